package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
)

func init() { rootCmd.AddCommand(newAgentCmd()) }

func newAgentCmd() *cobra.Command {
	return newNodeCmd(trust.RoleAgent, &cobra.Command{
		Use:   "agent --config FILE",
		Short: "Run an agent: accept co-signed updates, install what matches this host",
		Long: `agent runs the patchnet agent until SIGINT or SIGTERM. It joins its zone
over libp2p, accepts announcements once --threshold distinct supernodes of
the zone co-signed them (rollback and equivocation checked against its state),
matches them against this host's inventory (or --sysroot's), decides per the
[respond] policy, fetches the artifact from peers (the vendor URL is the
fallback), installs it as a journalled transaction ('patchnet history',
'patchnet rollback') and provides it to peers unless [content] provide = false.

The node's certificate (node.crt beside node.key, in --state by default) must
carry the agent role. Flags override the config file's keys of the same name.`,
		Example: `  patchnet agent --config /etc/patchnet/agent.toml
  patchnet agent --state /var/lib/patchnet --root /etc/patchnet/root.crt --zone acme \
      --listen /ip4/0.0.0.0/tcp/4001 --bootstrap /dns4/sn1.acme.example/tcp/4001/p2p/12D3KooW...`,
	})
}

// nodeFlags are the flags of agent and supernode; each mirrors a config key.
type nodeFlags struct {
	config, state, zone, sysroot  string
	roots, crl, listen, bootstrap []string
	threshold                     int
	requireToolPins               bool
}

// newNodeCmd completes cmd as a command that runs a node of role.
func newNodeCmd(role trust.Role, cmd *cobra.Command) *cobra.Command {
	var fl nodeFlags
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := fl.load(cmd)
		if err != nil {
			return err
		}
		// [log]: the node's and its overlay's logs go to stderr.
		if cfg.Logger, err = node.NewLogger(cmd.ErrOrStderr(), cfg.Log); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return runNode(ctx, cmd.OutOrStdout(), role, cfg)
	}
	fl.register(cmd)
	return cmd
}

// register adds the node flags to cmd.
func (fl *nodeFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.SetNormalizeFunc(normalizeFlag)
	f.StringVar(&fl.config, "config", "", "TOML config file (flags override its keys)")
	f.StringVar(&fl.state, "state", "", "state directory (node.key, node.crt, journal, blocks)")
	f.StringSliceVar(&fl.roots, "root", nil, "pinned root CA certificate (PEM file; repeat or comma-separate for several)")
	f.StringSliceVar(&fl.crl, "crl", nil, "zone CRLs (PEM or DER files, comma separated)")
	f.StringVar(&fl.zone, "zone", "", "the zone to join")
	f.IntVar(&fl.threshold, "threshold", 0, "distinct supernode co-signatures required (k; default 2)")
	f.StringVar(&fl.sysroot, "sysroot", "", "filesystem root to inventory and install into (default /)")
	f.StringSliceVar(&fl.listen, "listen", nil, "overlay listen multiaddrs (overlay.listen_addrs)")
	f.StringSliceVar(&fl.bootstrap, "bootstrap", nil, "bootstrap peer multiaddrs with /p2p/ID (overlay.bootstrap_peers)")
	f.BoolVar(&fl.requireToolPins, "require-tool-pins", true, "refuse to run installer binaries without an [install.tool_pins] entry (install.require_tool_pins)")
}

// load reads --config (if any) and applies the flags that were set.
func (fl nodeFlags) load(cmd *cobra.Command) (node.Config, error) {
	cfg := node.DefaultConfig()
	if fl.config != "" {
		var err error
		if cfg, err = node.LoadConfig(fl.config); err != nil {
			return cfg, err
		}
	}
	set := func(name string, apply func()) {
		if cmd.Flags().Changed(name) {
			apply()
		}
	}
	set("state", func() { cfg.State = fl.state })
	set("root", func() { cfg.Roots = fl.roots })
	set("crl", func() { cfg.CRL = fl.crl })
	set("zone", func() { cfg.Zone = fl.zone })
	set("threshold", func() { cfg.Threshold = fl.threshold })
	set("sysroot", func() { cfg.Sysroot = fl.sysroot })
	set("listen", func() { cfg.Overlay.ListenAddrs = fl.listen })
	set("bootstrap", func() { cfg.Overlay.BootstrapPeers = fl.bootstrap })
	set("require-tool-pins", func() { cfg.Install.RequireToolPins = fl.requireToolPins })
	if abs, err := filepath.Abs(cfg.Sysroot); err == nil && cfg.Sysroot != "" {
		cfg.Sysroot = abs
	}
	return cfg, cfg.Validate()
}

// runNode starts a node, checks its certificate carries role, prints its
// addresses and one line per event, and runs until ctx ends, telling
// systemd how it is doing if systemd started it.
func runNode(ctx context.Context, w io.Writer, role trust.Role, cfg node.Config) error {
	var mu sync.Mutex
	cfg.OnEvent = func(e node.Event) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s %s v%d: %s\n", e.At.UTC().Format("15:04:05.000"), e.Kind, e.ID, e.Version, e.Detail)
	}
	n, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	if !n.Identity().HasRole(role) {
		return roleMismatch(cfg.Cert, n.Identity().Roles, role)
	}
	mu.Lock()
	fmt.Fprintf(w, "%s %s of zone %s (k=%d)\n", role, n.ID(), cfg.Zone, cfg.Threshold)
	for _, a := range n.Overlay().Addrs() {
		fmt.Fprintf(w, "listening on %s\n", a)
	}
	mu.Unlock()
	stopNotify := notifyService(ctx, role, cfg, n, func(line string) { mu.Lock(); defer mu.Unlock(); fmt.Fprintln(w, line) })
	defer stopNotify() // STOPPING=1 before Close
	return n.Run(ctx)
}

// roleMismatch explains that the certificate at cert, of roles, cannot run
// a node of role, naming the node command one of its roles runs, if any.
func roleMismatch(cert string, roles []trust.Role, role trust.Role) error {
	use := withArticle(string(role)) + " certificate"
	for _, r := range roles {
		if r == trust.RoleAgent || r == trust.RoleSupernode {
			use = fmt.Sprintf("`patchnet %s` or %s", r, use)
			break
		}
	}
	return fmt.Errorf("the certificate %s carries roles %v, not %s: use %s", cert, roles, role, use)
}

// withArticle puts "a" or "an" before word, as its first letter sounds
// (the role names all sound as they are spelt).
func withArticle(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}

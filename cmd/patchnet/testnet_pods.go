package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet/k8s"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// podServerTimeout bounds reading a request's headers, keeping an idle
// connection and (but in the vendor origin) writing an answer in the
// pods' small HTTP servers.
const podServerTimeout = 30 * time.Second

// newTestnetPodCmds are the commands the rendered pods run: hidden, as
// only the manifests call them.
func newTestnetPodCmds() []*cobra.Command {
	return []*cobra.Command{newTestnetPrepareCmd(), newTestnetAPIProxyCmd(), newTestnetServeOriginCmd(), newTestnetBuildFixCmd(), newTestnetStealCmd(),
		newTestnetWaitCmd(), newTestnetCrashCmd(), newTestnetShapeCmd(), newTestnetCutCmd()}
}

// crashMarker, in a churned agent's state directory, says the crash
// happened: a container started again does not crash a second time.
const crashMarker = ".testnet-crashed"

// crashPoll is how often `patchnet testnet crash` asks its node whether
// the update reached it: a status read over the unix socket, cheap, and
// the node should die before it has installed (a rollout spread leaves
// it the time).
const crashPoll = 50 * time.Millisecond

// newTestnetCrashCmd builds `patchnet testnet crash`, the churn
// scenario's wrapper around a rendered agent.
func newTestnetCrashCmd() *cobra.Command {
	var state, id, then string
	cmd := &cobra.Command{
		Use:    "crash --state DIR --update-id ID --then restart|stay-down -- NODE-ARGS...",
		Short:  "Run a node, SIGKILL it as an update reaches it, then start it again or leave it down",
		Hidden: true,
		Long: `crash runs 'patchnet NODE-ARGS...' (the agent) and watches its status on the
state directory's socket; at its first event about --update-id it SIGKILLs
the node. With --then restart it starts the node again on its state and
runs as it does; with --then stay-down it stays up itself, the node down,
until stopped. A marker in the state directory keeps a container started
again from crashing the node a second time (stay-down stays down).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if then != k8s.ChurnRestart && then != k8s.ChurnStayDown {
				return fmt.Errorf("--then %q: want %s or %s", then, k8s.ChurnRestart, k8s.ChurnStayDown)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runCrash(ctx, cmd.OutOrStdout(), state, id, then, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "the node's state directory (its API socket; required)")
	f.StringVar(&id, "update-id", "", "the update whose arrival kills the node (required)")
	f.StringVar(&then, "then", k8s.ChurnRestart, "after the kill: restart or stay-down")
	_ = cmd.MarkFlagRequired("state")
	_ = cmd.MarkFlagRequired("update-id")
	return cmd
}

// runCrash runs the node, kills it once id reaches it and then restarts
// it or leaves it down.
func runCrash(ctx context.Context, w io.Writer, state, id, then string, args []string) error {
	marker := filepath.Join(state, crashMarker)
	if _, err := os.Stat(marker); err == nil {
		fmt.Fprintf(w, "crashed before (%s): %s\n", marker, then)
		if then == k8s.ChurnStayDown {
			<-ctx.Done()
			return nil
		}
		_, err := runChild(ctx, args, nil)
		return err
	}
	seen := func() bool {
		st, err := k8s.FetchStatus(ctx, state)
		return err == nil && slices.ContainsFunc(st.Events, func(e node.APIEvent) bool { return e.ID == id })
	}
	killed, err := runChild(ctx, args, seen)
	if !killed {
		return err // it ended before the update came (stopped, or failed)
	}
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return fmt.Errorf("marking the crash: %w", err)
	}
	fmt.Fprintf(w, "SIGKILLed the node as %s reached it; %s\n", id, then)
	if then == k8s.ChurnStayDown {
		<-ctx.Done()
		return nil
	}
	_, err = runChild(ctx, args, nil)
	return err
}

// runChild runs patchnet with args until it exits or ctx ends (SIGTERM
// passed on); with kill set, it SIGKILLs the child as soon as kill holds
// (asked every crashPoll) and says it did.
func runChild(ctx context.Context, args []string, kill func() bool) (killed bool, err error) {
	self, err := os.Executable()
	if err != nil {
		return false, err
	}
	c := exec.Command(self, args...)
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	if err := c.Start(); err != nil {
		return false, fmt.Errorf("starting the node: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	tick := time.NewTicker(crashPoll)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return false, err
		case <-ctx.Done():
			c.Process.Signal(syscall.SIGTERM)
			return false, <-exited
		case <-tick.C:
			if kill != nil && kill() {
				c.Process.Kill()
				<-exited
				return true, nil
			}
		}
	}
}

// testnetWaitPoll is how often `patchnet testnet wait` asks each node.
const testnetWaitPoll = 2 * time.Second

// eventsAboutNoUpdate are the kinds of event `testnet wait` waits for
// without an update id: a CRL applied (revocation), the heartbeat alarm
// (partition).
var eventsAboutNoUpdate = []node.EventKind{node.EventCRL, node.EventHeartbeatStale}

// newTestnetWaitCmd builds `patchnet testnet wait`, the init container
// that holds a late-join agent back.
func newTestnetWaitCmd() *cobra.Command {
	var endpoints []string
	var id, event string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:    "wait --endpoint URL|STATE... --event KIND [--update-id ID]",
		Short:  "Wait until every node given shows an event about an update",
		Hidden: true,
		Long: `wait asks each node's API (an API proxy URL or a state directory) every few
seconds until every one's status has an event of --event about --update-id
(co-signed, installed, …; without --update-id crl, a CRL applied from the
zone's gossip, or heartbeat-stale, the heartbeat alarm), or --timeout
passes. Nodes that do not answer yet are
asked again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(endpoints) == 0 || event == "" || (id == "") != slices.Contains(eventsAboutNoUpdate, node.EventKind(event)) {
				return fmt.Errorf("wait: give --endpoint, --event and --update-id (none for %v, which are about no update)", eventsAboutNoUpdate)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			w := cmd.OutOrStdout()
			err := k8s.WaitForEvent(ctx, endpoints, id, node.EventKind(event), testnetWaitPoll, func(done, total int) {
				fmt.Fprintf(w, "%d/%d node(s) show %s of %s\n", done, total, event, id)
			})
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&endpoints, "endpoint", nil, "a node's API proxy URL or state directory (repeatable)")
	f.StringVar(&id, "update-id", "", "the update")
	f.StringVar(&event, "event", "", "the event kind to wait for (co-signed, installed, …)")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "give up after this long")
	return cmd
}

// newTestnetStealCmd builds `patchnet testnet steal`, the stolen-key
// scenario's attack in a rendered publisher Job.
func newTestnetStealCmd() *cobra.Command {
	var fl nodeFlags
	var opts publishOptions
	cmd := &cobra.Command{
		Use:    "steal ANNOUNCEMENT --artifact FILE --config FILE",
		Short:  "Publish as a thief of the publisher's key would: succeed only when the zone refuses it",
		Hidden: true,
		Long: `steal runs 'patchnet publish' on an announcement a thief of the publisher's
key authored, and inverts its outcome: it exits 0 once the proposal failed
to get k co-signatures (the supernodes refused it, or said nothing by
--wait), and non-zero if k supernodes co-signed it (the attack succeeded)
or publishing failed for any other reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := fl.load(cmd)
			if err != nil {
				return err
			}
			opts.input = args[0]
			return runSteal(cmd.Context(), cmd.OutOrStdout(), cfg, opts)
		},
	}
	fl.register(cmd)
	cmd.Flags().StringVar(&opts.artifact, "artifact", "", "the thief's artifact, seeded while it runs")
	cmd.Flags().DurationVar(&opts.wait, "wait", DefaultPublishWait, "how long to wait to join the zone and for k co-signatures")
	return cmd
}

// runSteal publishes as the thief and says whether the zone held.
func runSteal(ctx context.Context, w io.Writer, cfg node.Config, opts publishOptions) error {
	err := runPublish(ctx, w, cfg, opts)
	var short *notCoSignedError
	switch {
	case errors.As(err, &short):
		fmt.Fprintf(w, "the zone did not co-sign the stolen key's update: %v\n", short)
		return nil
	case err != nil:
		return fmt.Errorf("publishing the stolen key's update: %w", err)
	}
	return errors.New("the stolen key's update was co-signed by k supernodes: the attack succeeded")
}

// newTestnetPrepareCmd builds `patchnet testnet prepare`, a rendered
// pod's init container.
func newTestnetPrepareCmd() *cobra.Command {
	var keyDir, state, sysroot, deb string
	cmd := &cobra.Command{
		Use:    "prepare --key-dir DIR --state DIR [--sysroot DIR --deb FILE]",
		Short:  "Set up a rendered testnet pod: its key into the state directory, an agent's sandbox",
		Hidden: true,
		Long: `prepare copies node.key (0600, as the node requires) and node.crt from
--key-dir, the node's mounted Secret, into --state; with --sysroot it makes a
Debian 12 sandbox root there with --deb installed by dpkg through the state's
journal (the agent's vulnerable package). A sandbox already made is kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := copyIdentity(keyDir, state); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied the node's key and certificate into %s\n", state)
			if sysroot == "" {
				return nil
			}
			if _, err := os.Stat(filepath.Join(sysroot, "var/lib/dpkg/status")); err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "sandbox %s exists: kept\n", sysroot)
				return nil
			}
			if err := nodelab.MakeSandbox(cmd.Context(), state, sysroot, deb); err != nil {
				return fmt.Errorf("making the sandbox %s: %w", sysroot, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "made sandbox %s with %s installed\n", sysroot, filepath.Base(deb))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyDir, "key-dir", "", "directory holding node.key and node.crt (required)")
	f.StringVar(&state, "state", "", "the node's state directory (required)")
	f.StringVar(&sysroot, "sysroot", "", "make an agent's sandbox root here")
	f.StringVar(&deb, "deb", "", "package to install into the sandbox (with --sysroot)")
	_ = cmd.MarkFlagRequired("key-dir")
	_ = cmd.MarkFlagRequired("state")
	cmd.MarkFlagsRequiredTogether("sysroot", "deb")
	return cmd
}

// copyIdentity copies node.key (0600) and node.crt from keyDir into
// state, which it makes owner-only; the key is checked to parse.
func copyIdentity(keyDir, state string) error {
	if err := os.MkdirAll(state, 0o700); err != nil {
		return fmt.Errorf("making the state directory: %w", err)
	}
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{ca.NodeKeyFile, 0o600}, {ca.NodeCertFile, 0o644}} {
		data, err := fsutil.ReadFile(filepath.Join(keyDir, f.name), trust.MaxKeyFileBytes*16)
		if err != nil {
			return fmt.Errorf("reading the node's %s: %w", f.name, err)
		}
		if f.name == ca.NodeKeyFile {
			if _, err := trust.ParsePrivateKeyPEM(data); err != nil {
				return fmt.Errorf("reading the node's %s: %w", f.name, err)
			}
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(state, f.name), data, f.mode); err != nil {
			return fmt.Errorf("writing the node's %s: %w", f.name, err)
		}
	}
	return nil
}

// newTestnetAPIProxyCmd builds `patchnet testnet api-proxy`, the sidecar
// collect reads.
func newTestnetAPIProxyCmd() *cobra.Command {
	var state, listen string
	var po k8s.ProxyOptions
	cmd := &cobra.Command{
		Use:    "api-proxy --state DIR --listen ADDR",
		Short:  "Serve a node's read-only API (status, history) over HTTP for testnet collect",
		Hidden: true,
		Long: `api-proxy answers GET /v1/status and GET /v1/history from the node whose state
directory is --state, through its unix socket, on the TCP address --listen.
Nothing else is passed on: rollback stays local to the socket. In a
partition's cut pod, --cut-ready and --cut-healed name the cut's stamp
files, and GET ` + k8s.CutPath + ` says when the cut was in place and healed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return servePod(cmd.Context(), cmd.OutOrStdout(), listen, k8s.Proxy(state, po), podServerTimeout, "API proxy for "+state)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "the node's state directory (required)")
	cmd.Flags().StringVar(&listen, "listen", fmt.Sprintf(":%d", k8s.APIPort), "TCP address to serve on")
	cmd.Flags().StringVar(&po.CutReady, "cut-ready", "", "in a partition's cut pod: the cut's --ready stamp, served at "+k8s.CutPath)
	cmd.Flags().StringVar(&po.CutHealed, "cut-healed", "", "in a partition's cut pod: the cut's --marker stamp (when it healed), served at "+k8s.CutPath)
	_ = cmd.MarkFlagRequired("state")
	return cmd
}

// newTestnetBuildFixCmd builds `patchnet testnet build-fix`: the
// rendered zone's fix, rebuilt in the pods that serve and publish it (a
// ConfigMap holds at most 1 MiB) and checked against the digest render
// signed.
func newTestnetBuildFixCmd() *cobra.Command {
	var out, sum string
	var padding int64
	cmd := &cobra.Command{
		Use:    "build-fix --out DIR --padding N --sha256 HEX",
		Short:  "Rebuild the rendered zone's fix and check it is the package render signed",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := buildFix(out, padding, sum)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "built %s (SHA-256 %s)\n", path, sum)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the fix into (required)")
	cmd.Flags().Int64Var(&padding, "padding", 0, "bytes of filler the fix carries, as rendered")
	cmd.Flags().StringVar(&sum, "sha256", "", "the fix's SHA-256 as render built and signed it (required)")
	_ = cmd.MarkFlagRequired("out")
	_ = cmd.MarkFlagRequired("sha256")
	return cmd
}

// buildFix writes the fix with padding into out and checks its digest is
// want; a package that differs is removed.
func buildFix(out string, padding int64, want string) (string, error) {
	if padding < 0 || padding > k8s.MaxArtifactBytes {
		return "", fmt.Errorf("--padding %d: want 0..%d", padding, k8s.MaxArtifactBytes)
	}
	path, err := nodelab.WriteFix(out, int(padding))
	if err != nil {
		return "", fmt.Errorf("building the fix: %w", err)
	}
	sum, _, err := nodelab.DigestFile(path)
	if err != nil {
		return "", err
	}
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, want) {
		os.Remove(path)
		return "", fmt.Errorf("the fix built here has SHA-256 %s, not the %s render signed: run the image of the patchnet version that rendered the manifests (this is %s)",
			got, want, buildVersion())
	}
	return path, nil
}

// newTestnetServeOriginCmd builds `patchnet testnet serve-origin`, the
// testnet's vendor origin.
func newTestnetServeOriginCmd() *cobra.Command {
	var dirs []string
	var listen string
	var clients, rawPeers int
	var wait time.Duration
	cmd := &cobra.Command{
		Use:    "serve-origin --dir DIR... --listen ADDR [--baseline-clients N] [--raw-peers N]",
		Short:  "Serve directories' packages and signatures over HTTP as the testnet's vendor origin",
		Hidden: true,
		Long: `serve-origin serves the files of every --dir (the first that has a name wins;
names with an element starting with a dot are hidden) and answers
GET ` + k8s.OriginServedPath + ` with the bytes it served, for collect. With
--baseline-clients it runs the HTTP baseline's barrier for that many agents
(each runs 'patchnet testnet http-baseline'), lets them download at once
when all came or --baseline-wait after the first did, and answers GET
` + k8s.BaselinePath + ` with their results; their downloads are counted apart.
With --raw-peers it runs the raw gossipsub baseline (after the HTTP one):
its own plain gossipsub peer stands for the publisher, the supernodes' and
agents' peers register, connect as their nodes are and report, and GET
` + k8s.RawPath + ` answers the rounds' outcome.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := k8s.NewOrigin(dirs...)
			if err != nil {
				return err
			}
			if clients > 0 {
				if err := o.ExpectBaseline(clients, wait); err != nil {
					return err
				}
			}
			if rawPeers > 0 { // after the HTTP baseline, which it waits for
				if err := o.ExpectRaw(cmd.Context(), rawPeers); err != nil {
					return err
				}
			}
			// No write timeout: an artifact of hundreds of MiB takes its
			// time over a slow link; an idle connection still goes.
			return servePod(cmd.Context(), cmd.OutOrStdout(), listen, o, 0, "vendor origin for "+strings.Join(dirs, ", "))
		},
	}
	cmd.Flags().StringArrayVar(&dirs, "dir", nil, "directory to serve (required; repeatable)")
	cmd.Flags().StringVar(&listen, "listen", fmt.Sprintf(":%d", k8s.OriginPort), "TCP address to serve on")
	cmd.Flags().IntVar(&clients, "baseline-clients", 0, "run the HTTP baseline's barrier for this many agents (0: no baseline)")
	cmd.Flags().DurationVar(&wait, "baseline-wait", k8s.BaselineWait, "open the barrier this long after the first client came, whoever else did")
	cmd.Flags().IntVar(&rawPeers, "raw-peers", 0, "run the raw gossipsub baseline's rounds through this many raw peers (each runs 'patchnet testnet raw-baseline'; 0: no raw baseline)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// servePod serves h on listen until SIGTERM or SIGINT, saying where;
// writing an answer may take writeTimeout (0: no bound).
func servePod(ctx context.Context, w io.Writer, listen string, h http.Handler, writeTimeout time.Duration, what string) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: podServerTimeout, WriteTimeout: writeTimeout, IdleTimeout: podServerTimeout}
	fmt.Fprintf(w, "serving %s on %s\n", what, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stopping the %s: %w", what, err)
	}
	return nil
}

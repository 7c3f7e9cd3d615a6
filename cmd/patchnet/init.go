package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
	"github.com/patchnet/patchnet/updates/origin"
)

func init() { rootCmd.AddCommand(newInitCmd()) }

// defaultInitState is the state directory `patchnet init` writes into a
// config when --state is not given.
const defaultInitState = "/var/lib/patchnet"

// pskFileName is the name of the pre-shared key file --private writes into
// the state directory, as go-ipfs names it.
const pskFileName = "swarm.key"

// newInitCmd builds `patchnet init` and its one subcommand per role.
func newInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented config file for an agent, supernode or publisher",
		Long: `init writes a node's TOML config file: every key with a comment saying what
it does and its default, the values the flags give filled in, ready to edit
and to run with 'patchnet agent --config FILE' or 'patchnet supernode --config
FILE'. It never overwrites a file without --force.`,
		Example: `  patchnet init agent --zone acme --root /etc/patchnet/root.crt --out /etc/patchnet/agent.toml
  patchnet init supernode --zone acme --root root.crt --vendor-origin https://deb.example.org/pool/ --vendor-key vendor.asc
  patchnet init publisher --zone acme --root root.crt > publisher.toml`,
	}
	cmd.AddCommand(newInitRoleCmd(trust.RoleAgent), newInitRoleCmd(trust.RoleSupernode), newInitRoleCmd(trust.RolePublisher))
	return cmd
}

// initOptions are the flags of `patchnet init ROLE`.
type initOptions struct {
	role                           trust.Role
	out, state, zone, sysroot      string
	roots, crls, listen, bootstrap []string
	threshold                      int
	thresholdSet                   bool
	force, private                 bool
	pskFile                        string
	vendorOrigins, vendorKeys      []string
}

// newInitRoleCmd builds `patchnet init ROLE`.
func newInitRoleCmd(role trust.Role) *cobra.Command {
	o := initOptions{role: role, state: defaultInitState}
	cmd := &cobra.Command{
		Use:     string(role) + " [--out FILE] [--zone NAME] [--root FILE]…",
		Short:   initShort[role],
		Long:    initLong[role],
		Example: initExample[role],
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.thresholdSet = cmd.Flags().Changed("threshold")
			return runInit(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.SetNormalizeFunc(normalizeFlag)
	f.StringVar(&o.out, "out", "", "file to write the config to (default: standard output); never overwritten without --force")
	f.BoolVar(&o.force, "force", false, "overwrite --out if it exists")
	f.StringVar(&o.state, "state", o.state, "the node's state directory (state; node.key and node.crt are looked for there)")
	f.StringSliceVar(&o.roots, "root", nil, "pinned root CA certificate (roots; PEM file; repeat or comma-separate for several)")
	f.StringSliceVar(&o.crls, "crl", nil, "CRL file loaded at start (crl): the zone CA's and the root's; repeat for several")
	f.StringVar(&o.zone, "zone", "", "the zone the node joins (zone)")
	f.StringSliceVar(&o.bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (overlay.bootstrap_peers); repeat for several")
	f.StringSliceVar(&o.listen, "listen", nil, "overlay listen multiaddr (overlay.listen_addrs; default TCP and QUIC port 4001, TCP only with --private)")
	f.IntVar(&o.threshold, "threshold", node.DefaultConfig().Threshold, "distinct supernode co-signatures an agent requires (threshold)")
	f.BoolVar(&o.private, "private", false, "make the zone private: write a fresh pre-shared key to STATE/"+pskFileName+" (overlay.private_zone.psk_file)")
	f.StringVar(&o.pskFile, "psk-file", "", "join a private zone with its existing pre-shared key file (overlay.private_zone.psk_file)")
	cmd.MarkFlagsMutuallyExclusive("private", "psk-file")
	switch role {
	case trust.RoleAgent:
		f.StringVar(&o.sysroot, "sysroot", "/", "filesystem root the agent inventories and installs into (sysroot)")
	case trust.RoleSupernode:
		f.StringSliceVar(&o.vendorOrigins, "vendor-origin", nil, `vendor URL prefix artifacts must be fetched from (cosign.publishers."*".origins); repeat for several`)
		f.StringSliceVar(&o.vendorKeys, "vendor-key", nil, `vendor OpenPGP public key file that must sign artifacts (cosign.publishers."*".keys); repeat for several`)
	}
	return cmd
}

// initShort, initLong and initExample document `patchnet init ROLE`.
var initShort = map[trust.Role]string{
	trust.RoleAgent:     "Write a commented agent config, with this host's installer pins",
	trust.RoleSupernode: "Write a commented supernode config, with its co-signing policy",
	trust.RolePublisher: "Write a commented publisher config",
}

var initLong = map[trust.Role]string{
	trust.RoleAgent: `init agent writes an agent's TOML config: every key of the config with a
comment saying what it does and its default, and the values the flags give.
[install] tool_pins holds the SHA-256 of this host's installer binaries (dpkg,
rpm, apk, sh, as 'patchnet apply --pin-tools' prints them) with
require_tool_pins = true, so the agent runs no unpinned installer: write the
config on the host it is for. With --sysroot, the sysroot's own /bin/sh is
pinned too.

Relative paths are made absolute. Keys the flags leave empty and the node
needs (roots, zone) are named in the file's opening comment and by a note. With --private, a fresh
pre-shared key is written to STATE/swarm.key (0600) for the zone's other nodes
to copy. Nothing is overwritten unless --force is given for --out.`,
	trust.RoleSupernode: `init supernode writes a supernode's TOML config: every key of the config
with a comment saying what it does and its default, and the values the flags
give. --vendor-origin and --vendor-key fill the [cosign.publishers."*"] policy:
the vendor URL prefixes a supernode fetches each artifact from itself and the
vendor keys that must sign it. Without them the policy is written as
commented-out example lines, and the supernode co-signs nothing until it has
one.

Relative paths are made absolute. Keys the flags leave empty and the node
needs (roots, zone) are named in the file's opening comment and by a note. With --private, a fresh
pre-shared key is written to STATE/swarm.key (0600) for the zone's other nodes
to copy. Nothing is overwritten unless --force is given for --out.`,
	trust.RolePublisher: `init publisher writes a publisher node's TOML config: every key of the config
with a comment saying what it does and its default, and the values the flags
give. [install] and [cosign] are left out: a publisher neither installs nor
co-signs.

Relative paths are made absolute. Keys the flags leave empty and the node
needs (roots, zone) are named in the file's opening comment and by a note. With --private, a fresh
pre-shared key is written to STATE/swarm.key (0600) for the zone's other nodes
to copy. Nothing is overwritten unless --force is given for --out.`,
}

var initExample = map[trust.Role]string{
	trust.RoleAgent: `  patchnet init agent --zone acme --root /etc/patchnet/root.crt \
      --crl /etc/patchnet/zone.crl --crl /etc/patchnet/root.crl \
      --bootstrap /dns4/sn1.acme.example/tcp/4001/p2p/12D3KooW... --out /etc/patchnet/agent.toml
  patchnet agent --config /etc/patchnet/agent.toml
  patchnet init agent --zone acme --root root.crt --private --state /var/lib/patchnet > agent.toml`,
	trust.RoleSupernode: `  patchnet init supernode --zone acme --root /etc/patchnet/root.crt \
      --vendor-origin https://deb.example.org/pool/ --vendor-key /etc/patchnet/vendor/example.asc \
      --out /etc/patchnet/supernode.toml
  patchnet supernode --config /etc/patchnet/supernode.toml
  patchnet init supernode --zone acme --root root.crt --psk-file /etc/patchnet/swarm.key --out sn.toml`,
	trust.RolePublisher: `  patchnet init publisher --zone acme --root /etc/patchnet/root.crt --out /etc/patchnet/publisher.toml
  patchnet init publisher --zone acme --root root.crt --listen /ip4/0.0.0.0/tcp/4001 > publisher.toml`,
}

// runInit builds the config of o, checks it, and writes the pre-shared key
// (with --private) and the config file (or standard output). Notes for the
// operator go to stderr when the config goes to stdout, else to stdout.
func runInit(stdout, stderr io.Writer, o initOptions) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	var psk []byte
	if o.private {
		psk = make([]byte, 32)
		if _, err := rand.Read(psk); err != nil {
			return fmt.Errorf("generating the zone's pre-shared key: %w", err)
		}
	}
	missing := missingKeys(cfg)
	data, err := initConfigFile(o.role, cfg, psk, missing)
	if err != nil {
		return err
	}
	if o.out != "" && !o.force {
		if err := refuseExisting(o.out, "--force overwrites it"); err != nil {
			return err
		}
	}
	notes := stdout
	if o.out == "" {
		notes = stderr
	}
	if o.private {
		if err := writePSK(cfg.Overlay.PrivateZone.PSKFile, psk); err != nil {
			return err
		}
	}
	if err := writeConfig(stdout, o.out, o.force, data); err != nil {
		if o.private {
			os.Remove(cfg.Overlay.PrivateZone.PSKFile) // written just now, for this config only
		}
		return err
	}
	if o.out != "" {
		fmt.Fprintf(notes, "wrote %s config %s\n", o.role, o.out)
	}
	if o.private {
		fmt.Fprintf(notes, "wrote the zone's pre-shared key %s (0600): copy it to every node of the zone and give it to 'patchnet init' there with --psk-file; it is the zone's shared secret\n",
			cfg.Overlay.PrivateZone.PSKFile)
	}
	for _, m := range missing {
		fmt.Fprintf(notes, "fill in %s before the node starts: %s\n", m.key, m.why)
	}
	if o.role == trust.RoleAgent && len(cfg.Install.ToolPins) == 0 {
		fmt.Fprintln(notes, "no installer binary (dpkg, rpm, apk, sh) found on this host: [install] tool_pins is empty and the agent will not start until it pins its installers")
	}
	if o.role == trust.RoleSupernode && len(cfg.CoSign.Publishers) == 0 {
		fmt.Fprintln(notes, `no [cosign.publishers."*"] policy (--vendor-origin, --vendor-key): this supernode co-signs nothing until the config has one`)
	}
	return nil
}

// initConfigFile checks cfg as the node will (psk standing in for a key
// file not yet written) and renders it as role's commented config file,
// which must decode again: a rendering bug must not reach a file. `patchnet
// init` and `patchnet testnet render` both write configs through it.
func initConfigFile(role trust.Role, cfg node.Config, psk []byte, missing []missingKey) ([]byte, error) {
	if err := checkInitConfig(cfg, psk, missing); err != nil {
		return nil, err
	}
	data, err := renderConfig(role, cfg, missing)
	if err != nil {
		return nil, err
	}
	if _, err := node.DecodeConfig(data); err != nil {
		return nil, fmt.Errorf("checking the rendered config: %w", err)
	}
	return data, nil
}

// config is the node.Config the flags of o describe, over the defaults.
func (o initOptions) config() (node.Config, error) {
	cfg := node.DefaultConfig()
	var err error
	if cfg.State, err = absPath("--state", o.state); err != nil {
		return cfg, err
	}
	cfg.Key = filepath.Join(cfg.State, "node.key")
	cfg.Cert = filepath.Join(cfg.State, "node.crt")
	if cfg.Roots, err = absPaths("--root", o.roots); err != nil {
		return cfg, err
	}
	if cfg.CRL, err = absPaths("--crl", o.crls); err != nil {
		return cfg, err
	}
	cfg.Zone = o.zone
	if o.thresholdSet {
		cfg.Threshold = o.threshold
	}
	cfg.Overlay.BootstrapPeers = append([]string{}, o.bootstrap...)
	switch {
	case len(o.listen) > 0:
		cfg.Overlay.ListenAddrs = o.listen
	case o.private || o.pskFile != "":
		cfg.Overlay.ListenAddrs = withoutQUIC(cfg.Overlay.ListenAddrs) // a pre-shared key wraps TCP only
	}
	switch {
	case o.private:
		cfg.Overlay.PrivateZone.PSKFile = filepath.Join(cfg.State, pskFileName)
	case o.pskFile != "":
		if cfg.Overlay.PrivateZone.PSKFile, err = absPath("--psk-file", o.pskFile); err != nil {
			return cfg, err
		}
	}
	switch o.role {
	case trust.RoleAgent:
		if cfg.Sysroot, err = absPath("--sysroot", o.sysroot); err != nil {
			return cfg, err
		}
		if cfg.Install.ToolPins, err = hostToolPins(cfg.Sysroot); err != nil {
			return cfg, err
		}
	case trust.RoleSupernode:
		if len(o.vendorOrigins) > 0 || len(o.vendorKeys) > 0 {
			if len(o.vendorOrigins) == 0 || len(o.vendorKeys) == 0 {
				return cfg, errors.New("--vendor-origin and --vendor-key go together: a supernode fetches each artifact from the vendor's origins and checks it against the vendor's keys")
			}
			keys, err := absPaths("--vendor-key", o.vendorKeys)
			if err != nil {
				return cfg, err
			}
			p := origin.DefaultPolicy()
			p.Origins, p.Keys = o.vendorOrigins, keys
			cfg.CoSign.Publishers = map[string]origin.Policy{"*": p}
		}
	}
	return cfg, nil
}

// absPath is path made absolute; flag names it in an error.
func absPath(flag, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s: empty path", flag)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%s %q: making the path absolute: %w", flag, path, err)
	}
	return abs, nil
}

// absPaths is absPath of each path; never nil, so the file says [] rather
// than leaving the key out.
func absPaths(flag string, paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		abs, err := absPath(flag, p)
		if err != nil {
			return nil, err
		}
		out = append(out, abs)
	}
	return out, nil
}

// withoutQUIC is addrs without the QUIC ones, which a private zone cannot
// use.
func withoutQUIC(addrs []string) []string {
	var out []string
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			out = append(out, s) // Validate names it
			continue
		}
		quic := false
		for _, c := range a {
			switch c.Protocol().Code {
			case ma.P_QUIC, ma.P_QUIC_V1, ma.P_WEBTRANSPORT:
				quic = true
			}
		}
		if !quic {
			out = append(out, s)
		}
	}
	return out
}

// hostToolPins are the SHA-256 pins of this host's installer binaries and,
// for a sysroot other than /, of the sysroot's own /bin/sh, which update
// scripts run chrooted into it.
func hostToolPins(sysroot string) (map[string]string, error) {
	pins, err := install.PinTools(install.Tools{})
	if err != nil {
		return nil, fmt.Errorf("pinning this host's installers: %w", err)
	}
	if filepath.Clean(sysroot) == "/" {
		return pins, nil
	}
	sum, err := sysrootShellDigest(sysroot)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return pins, nil // no shell there: scripts are refused for it anyway
	case err != nil:
		return nil, fmt.Errorf("pinning the /bin/sh of sysroot %s: %w", sysroot, err)
	}
	pins[filepath.Join(sysroot, "/bin/sh")] = sum
	return pins, nil
}

// sysrootShellDigest is the SHA-256 of sysroot's /bin/sh, its symbolic
// links followed inside the sysroot, as the installer checks it.
func sysrootShellDigest(sysroot string) (string, error) {
	rt, err := os.OpenRoot(sysroot)
	if err != nil {
		return "", err
	}
	defer rt.Close()
	f, err := rt.Open("bin/sh")
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// missingKey is a key the operator must still fill in.
type missingKey struct{ key, why string }

// missingKeys are the required keys cfg leaves empty.
func missingKeys(cfg node.Config) []missingKey {
	var m []missingKey
	if len(cfg.Roots) == 0 {
		m = append(m, missingKey{"roots", "the pinned root CA certificates (--root)"})
	}
	if cfg.Zone == "" {
		m = append(m, missingKey{"zone", "the zone the node's certificate names (--zone)"})
	}
	return m
}

// checkInitConfig validates cfg as the node will, with placeholders for the
// missing keys and psk, when set, standing in for the key file not yet
// written: a config init writes fails only for what the operator must fill.
func checkInitConfig(cfg node.Config, psk []byte, missing []missingKey) error {
	for _, m := range missing {
		switch m.key {
		case "roots":
			cfg.Roots = []string{"/placeholder/root.crt"}
		case "zone":
			cfg.Zone = "placeholder"
		}
	}
	cfg.Overlay.PrivateZone.PSK = psk
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("checking the flags: %w", err)
	}
	return nil
}

// refuseExisting fails if path exists (or cannot be checked).
func refuseExisting(path, hint string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("%s exists: refusing to overwrite it (%s)", path, hint)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("checking %s: %w", path, err)
	}
	return nil
}

// writePSK writes a fresh pre-shared key file, 0600, in the pnet format
// overlay reads; it never replaces an existing key.
func writePSK(path string, key []byte) error {
	if err := refuseExisting(path, "it is the zone's key: give it with --psk-file, or remove it to make a new zone key"); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the state directory for %s: %w", path, err)
	}
	if err := fsutil.WriteFileExclusive(path, overlay.EncodePSK(key), 0o600); err != nil {
		return fmt.Errorf("writing the pre-shared key: %w", err)
	}
	return nil
}

// writeConfig writes data to out, or to w when out is "". Without force an
// existing out is never replaced, even one created meanwhile.
func writeConfig(w io.Writer, out string, force bool, data []byte) error {
	if out == "" {
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("writing the config: %w", err)
		}
		return nil
	}
	var err error
	if force {
		err = fsutil.WriteFileAtomic(out, data, 0o644)
	} else {
		err = fsutil.WriteFileExclusive(out, data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	return nil
}

// configHelp says what each key of node.Config does, by its dotted TOML
// path; a key inside a table that a map holds (cosign.publishers."*",
// respond.zones.NAME) has "*" for the map's key. Tables have an entry too.
// The default is appended from node.DefaultConfig unless the text gives it
// ("Default") or the key has none ("Required"). TestInitHelpCoversConfig
// fails for a key of node.Config without an entry here, and for an entry
// that names no key.
var configHelp = map[string]string{
	"state":         "The node's state directory: its database, the install journal, kept before-states and fetched artifacts; node.key and node.crt are there by default. Required.",
	"in_memory":     "Keep catch-up items in memory instead of STATE/node (tests, the demo). The rollback floor, pending installs and co-signing records stay on disk whatever this says.",
	"key":           "The node's private key, also its libp2p identity, as `patchnet cert request` writes it. Default: STATE/node.key.",
	"cert":          "The node's certificate chain (leaf, then zone CA), as `patchnet ca sign` writes it. Its role decides what the node does and must match the command that runs it. Default: STATE/node.crt.",
	"roots":         "The pinned root CA certificates (PEM files); several federate organisations. Required.",
	"crl":           "CRL files (PEM or DER) loaded at start: the zone CA's (zone.crl) and the root's (root.crl). More arrive by gossip and catch-up; with require_crl, no signature counts until current CRLs of the signer's zone CA and root are held.",
	"zone":          "The zone this node joins; it must be the zone its certificate names. Required.",
	"threshold":     "k: how many distinct supernodes of the zone must co-sign an update before an agent accepts it. One key never counts twice.",
	"publishers":    "How many distinct publisher signatures an update needs.",
	"require_crl":   "Count a signature only while current CRLs of its signer's zone CA and root are held: a fresh node, or one an attacker keeps from its CRLs, cannot tell a revoked supernode from a good one.",
	"sysroot":       `The filesystem root an agent inventories and installs into: "/" is this host, another directory a container image, chroot or sandbox.`,
	"fetch_timeout": fmt.Sprintf("Bounds fetching one artifact, from peers or the vendor URL; at most %s.", shortDuration(node.MaxFetchTimeout)),
	"fetch_retry": fmt.Sprintf("How long an agent waits after a failed artifact fetch before it tries again; the wait doubles per attempt, up to %s, for at most %d attempts.",
		shortDuration(node.MaxFetchRetryBackoff), node.MaxFetchAttempts),

	"install":                   "How an agent installs: pinned installer binaries and archive prefixes.",
	"install.tool_pins":         "Installer binaries (dpkg, rpm, apk, sh, …) by absolute path, each with its SHA-256 (hex), checked before every run; a mismatch refuses the install and raises an alert. `patchnet apply --pin-tools` prints this host's; re-pin after upgrading dpkg or rpm. Default: none.",
	"install.require_tool_pins": "Refuse to run an installer binary without a pin; an agent with no pin at all refuses to start.",
	"install.prefixes":          "Where archive updates unpack: package name = absolute directory (the archive method has no other target). Default: none.",
	"retention":                 "What the install journal's kept files (previous package versions, replaced archive trees, artifacts, finished downloads) are pruned to, after every install and at start-up. Each deletion is listed in a journalled prune record first; `patchnet history` shows each install's before-state as kept or pruned, and rolling back a pruned one is refused naming the record.",
	"retention.keep_last":       "How many committed installs per package or archive prefix keep their before-states (1..1000): rolling back further than that is refused. 0 is refused: the newest before-state is what undoes a bad update.",
	"retention.max_bytes":       "Bytes all kept files may take (2147483648 = 2 GiB); past it the oldest are pruned first, failed installs before committed ones. The newest install's before-state, and any a rollback would use now, stay regardless. 0: no bound by bytes.",

	"log":                                "Where the daemon's log lines go: stderr, through log/slog (the journal under systemd).",
	"log.format":                         `"text" (key=value lines) or "json" (one object per line, for log shippers).`,
	"log.level":                          "The least severe level logged: debug, info, warn or error. Bootstrap failures and admission refusals are warn.",
	"metrics":                            "Prometheus metrics (patchnet_*): off unless listen is set.",
	"metrics.listen":                     `host:port of the metrics endpoint, e.g. "127.0.0.1:9464"; "" is off. Loopback only unless allow_remote.`,
	"metrics.allow_remote":               "Allow a non-loopback metrics address. Off by default: the metrics say which updates this host installed.",
	"report":                             "Opt-in install reports: an agent signs what it installed (or failed or refused to) and sends it to the supernodes it is connected to, directly, never by gossip.",
	"report.enabled":                     "Send a signed report of each install outcome (update id, version, digest, installed/failed/refused with one reason word, time; never the inventory or error text) to the connected supernodes, which show them in `patchnet status`. Off by default for privacy: an agent that does not opt in discloses nothing beyond taking part in gossip.",
	"heartbeat":                          "The zone's heartbeat policy; every node of a zone should use the same.",
	"heartbeat.interval":                 "How often a supernode signs and sends its heartbeat (time, sequence, digest of the set it co-signed), and how often an agent checks the ones it received.",
	"heartbeat.max_age":                  "How old the k-th freshest supernode heartbeat may be before an agent reports heartbeat-stale (cut off, or the zone frozen) and catches up from several peers; at least interval.",
	"cosign":                             "What a supernode requires before it co-signs an update of a publisher.",
	"cosign.publishers":                  `Per publisher of the zone, by peer ID (its certificate's CN), or "*" for any publisher without an entry of its own: the vendor origins its artifacts must be fetched from and the vendor keys that must sign them. A supernode fetches each artifact from those origins itself, never from peers or the publisher, and co-signs nothing of a publisher without an entry, so a stolen publisher key alone gets no co-signature. Default: none.`,
	"cosign.publishers.*.origins":        `Vendor URL prefixes the artifact must be fetched from, such as "https://deb.example.org/pool/": scheme, host and port must match and the path lie under the prefix's. Required in an entry.`,
	"cosign.publishers.*.keys":           "The vendor's OpenPGP public key files (armored or binary) that must sign the artifact: a detached .asc/.sig beside its URL, or the rpm's own signature. Required in an entry unless allow_unsigned is true.",
	"cosign.publishers.*.allow_unsigned": "Accept an artifact that carries no vendor signature (a vendor that does not sign). Default false: no verifiable signature, no co-signature; a signature that does not verify is refused whatever this says.",

	"overlay":                                 "The libp2p side: listen addresses, bootstrap peers, DHT, gossip and their bounds.",
	"overlay.zone":                            "Taken from the top-level zone; a value here is ignored. Default: the top-level zone.",
	"overlay.listen_addrs":                    "Multiaddrs to listen on. A private zone (a pre-shared key) runs over TCP only: QUIC cannot use the key.",
	"overlay.announce_addrs":                  "When set, replace the listen addresses this node tells peers about (behind NAT or a load balancer). Default: none.",
	"overlay.bootstrap_peers":                 "Full multiaddrs ending in /p2p/<peer ID>, dialled at start and whenever this node has too few connections; the zone's first node needs none. Default: none.",
	"overlay.private_zone":                    "A private zone: only nodes holding its pre-shared key can connect, and every peer must authenticate with a certificate of the zone.",
	"overlay.private_zone.psk_file":           `A libp2p pnet key file ("/key/swarm/psk/1.0.0/", "/base16/", 64 hex digits), as go-ipfs' swarm.key; the same file on every node of the zone. ` + "`patchnet init --private`" + ` writes a fresh one. Default: none (a public zone).`,
	"overlay.dht":                             "The Kademlia DHT that finds peers holding artifacts.",
	"overlay.dht.mode":                        `"server" answers queries (needed in a closed network, where auto mode leaves routing tables empty), "client" only asks, "off" turns the DHT off.`,
	"overlay.dht.protocol_prefix":             `Keeps the zone's DHT apart from every other DHT. Default: "" (meaning "/patchnet/<zone>").`,
	"overlay.collectives":                     "Collective topics this node joins. Default: none.",
	"overlay.supernode":                       "Set from the node's certificate: supernodes and publishers flood-publish to every peer of a topic, agents use the mesh; a value here is ignored. Default: false.",
	"overlay.gossip":                          "Bounds of gossip messages and of the validation pipeline.",
	"overlay.gossip.max_message_bytes":        fmt.Sprintf("Caps one gossip message (one signed envelope); at most %d.", overlay.MaxMessageBytesLimit),
	"overlay.gossip.validate_queue_size":      "The validation queue; a full queue drops messages.",
	"overlay.gossip.validate_workers":         "Goroutines checking signatures; 0 means one per CPU.",
	"overlay.gossip.validate_concurrency":     "Caps the node's validator calls in flight.",
	"overlay.gossip.peer_outbound_queue_size": "Queue of messages to one peer.",
	"overlay.gossip.subscription_buffer":      "Delivered messages the node has not read yet.",
	"overlay.gossip.seen_messages_ttl":        "How long message IDs are remembered, so a message is delivered once.",
	"overlay.score":                           "Peer scoring: how fast a peer delivering messages the validator rejects is cut off.",
	"overlay.score.invalid_message_weight":    "Multiplies the square of a peer's rejected messages per topic (one → -10, three → -90: graylisted).",
	"overlay.score.gossip_threshold":          "Below this score a peer gets and gives no gossip.",
	"overlay.score.publish_threshold":         "Below this score this node does not publish to a peer.",
	"overlay.score.graylist_threshold":        "Below this score a peer's RPCs are ignored.",
	"overlay.auth_deadline":                   fmt.Sprintf("How long a new peer has to present its certificate chain; at most %s.", shortDuration(overlay.MaxAuthDeadline)),
	"overlay.sync":                            "Catch-up after start-up and isolation.",
	"overlay.sync.peers":                      "How many distinct peers to catch up from after start-up or isolation (1 to 16).",
	"overlay.sync.max_items":                  "Items per catch-up request.",
	"overlay.sync.max_bytes":                  "Bytes per catch-up request; peers answer at most 8 MiB whatever is asked, more takes more rounds.",
	"overlay.sync.interval":                   fmt.Sprintf("How often a node also catches up from one connected peer while all seems well (gossip loses what was published before a node's mesh formed); jittered by ±25%%; 0 turns it off, else %s to %s.", shortDuration(overlay.MinSyncInterval), shortDuration(overlay.MaxSyncInterval)),
	"overlay.resources":                       "Sizes of libp2p's resource manager and connection manager.",
	"overlay.resources.max_memory":            "Bytes libp2p may reserve.",
	"overlay.resources.max_file_descriptors":  "File descriptors libp2p may use.",
	"overlay.resources.conn_low":              "The connection manager's low water mark: trimming stops here.",
	"overlay.resources.conn_high":             "The connection manager's high water mark: trimming starts above it.",
	"overlay.bootstrap_interval":              "How often bootstrap peers are redialled while this node has too few connections (1s to 1h).",

	"content":                         "Artifact transfer between peers.",
	"content.provide":                 "Announce fetched artifacts in the DHT and serve them to peers, so the vendor's egress stays flat as the zone grows; false opts out.",
	"content.provider_search_timeout": "Bounds the DHT search for peers holding an artifact before the vendor URLs are tried.",
	"content.max_providers":           "How many peers one fetch pulls from at once.",
	"content.reprovide_interval":      "How often held artifacts are announced in the DHT again; it must stay below the DHT's 48h record life.",
	"content.provide_spread":          "An artifact the supernodes served this node without help (or that the DHT already named 20 holders of) is first announced in the DHT at a random point within this, so a zone's agents finishing together do not all walk the DHT at once; at that point it asks the DHT first and, if 20 holders are named already, waits for a random point within reprovide_interval instead; 0: at once.",
	"content.streams_per_provider":    "Requests a fetch keeps in flight to each peer.",
	"content.serve_streams_per_peer":  "Bounds one peer's concurrent requests to this node; at least an honest peer's streams_per_provider.",
	"content.seed_serve_copies":       "Publishers only: whole copies of an artifact it published that it serves before answering busy, so fetchers share it and the vendor side serves about one copy; 0 lifts the budget. Supernodes and agents serve without a budget.",

	"respond":                     "What an agent does with an update that matches its host, per category and zone: apply (install, within maintenance windows), notify (tell people, install nothing) or log.",
	"respond.default":             "The mode of a category not listed in categories.",
	"respond.categories":          "Mode per category: security, bugfix, enhancement, announcement.",
	"respond.zones":               "Per zone of the announcement, a default and categories overriding those above. Default: none.",
	"respond.zones.*.default":     "The zone's mode for categories it does not list. Default: the top-level modes.",
	"respond.zones.*.categories":  "The zone's mode per category. Default: the top-level modes.",
	"respond.maintenance_windows": `When "apply" may install: "DAYS HH:MM-HH:MM", DAYS one of Mon..Sun, a range "Mon-Fri", a list "Sat,Sun" or "daily"; an end before the start crosses midnight. A reboot-needed update is reported, never rebooted. Default: none (any time).`,
	"respond.time_zone":           `The IANA time zone the windows are written in ("UTC", "Local", "Europe/Berlin").`,

	"notify":                  "Channels that tell people about updates in notify mode, alerts (equivocation, tampered installers), alarms and their end (heartbeats stale or disagreeing, bootstrap failing: one notice per episode) and outcomes (installed, failed, rolled back, CRL applied). Default: none.",
	"notify.smtp":             "Email, one message per notification. Keys left out take the defaults shown; to is required.",
	"notify.smtp.addr":        "host:port of the mail server. Default: localhost:587.",
	"notify.smtp.from":        "Envelope and header sender. Default: patchnet@localhost.",
	"notify.smtp.to":          fmt.Sprintf("Recipients, 1 to %d. Required in [notify.smtp].", updates.MaxRecipients),
	"notify.smtp.security":    `"starttls", "tls" or "none" (plaintext, and then no password except to loopback). Default: "starttls".`,
	"notify.smtp.username":    `With password, enables AUTH PLAIN. Default: "" (no AUTH).`,
	"notify.smtp.password":    `The AUTH PLAIN password; keep this file unreadable to others once it is set. Default: "".`,
	"notify.smtp.timeout":     fmt.Sprintf("Bounds one whole SMTP session. Default: %s.", shortDuration(updates.DefaultNotifyTimeout)),
	"notify.webhook":          "A POST of JSON per notification. Keys left out take the defaults shown; url is required.",
	"notify.webhook.url":      "Receives the POST. Required in [notify.webhook].",
	"notify.webhook.headers":  "Headers added to each request (e.g. Authorization). Default: none.",
	"notify.webhook.secret":   `When set, header X-Patchnet-Signature is "sha256=" + hex HMAC-SHA256(secret, body). Default: "" (unsigned).`,
	"notify.webhook.attempts": fmt.Sprintf("How many times a failed delivery is tried in all, 1 to %d. Default: %d.", updates.MaxWebhookAttempts, updates.DefaultWebhookConfig().Attempts),
	"notify.webhook.backoff":  fmt.Sprintf("The wait after the first failure; it doubles after each further one, up to %s. Default: %s.", shortDuration(updates.MaxWebhookBackoff), shortDuration(time.Duration(updates.DefaultWebhookConfig().Backoff))),
	"notify.webhook.timeout":  fmt.Sprintf("Bounds one request. Default: %s.", shortDuration(updates.DefaultNotifyTimeout)),
}

// configExamples are written, commented out, where the config has nothing
// of its own: optional tables, maps of tables and maps left empty. Each
// value has the type of the key it illustrates.
var configExamples = map[string]any{
	"install.tool_pins": map[string]string{"/usr/bin/dpkg": "<sha256 of /usr/bin/dpkg>"},
	"install.prefixes":  map[string]string{"myapp": "/opt/myapp"},
	"cosign.publishers": map[string]origin.Policy{"*": {
		Origins: []string{"https://deb.example.org/pool/"}, Keys: []string{"/etc/patchnet/vendor/example.asc"},
	}},
	"respond.zones": map[string]updates.ZoneRespond{"partner-zone": {
		Default: updates.ModeLog, Categories: map[updates.Category]updates.Mode{updates.CategorySecurity: updates.ModeNotify},
	}},
	"notify.smtp": func() *updates.SMTPConfig {
		c := updates.DefaultSMTPConfig()
		c.To = []string{"ops@example.org"}
		return &c
	}(),
	"notify.webhook": func() *updates.WebhookConfig {
		c := updates.DefaultWebhookConfig()
		c.URL = "https://hooks.example.org/patchnet"
		c.Headers = map[string]string{"Authorization": "Bearer <token>"}
		return &c
	}(),
	"notify.webhook.headers":      map[string]string{"Authorization": "Bearer <token>"},
	"overlay.announce_addrs":      []string{"/ip4/203.0.113.7/tcp/4001"},
	"overlay.bootstrap_peers":     []string{"/dns4/sn1.example.org/tcp/4001/p2p/12D3KooW..."},
	"overlay.collectives":         []string{"web-servers"},
	"roots":                       []string{"/etc/patchnet/root.crt"},
	"crl":                         []string{"/etc/patchnet/zone.crl", "/etc/patchnet/root.crl"},
	"respond.maintenance_windows": []string{"Mon-Fri 22:00-23:30", "Sat,Sun 02:00-06:00"},
}

// roleNotes are said, per role, above a key or table that works
// differently for it.
var roleNotes = map[trust.Role]map[string]string{
	trust.RoleAgent: {
		"cosign": "Supernodes only: an agent co-signs nothing, so the table is commented out.",
	},
	trust.RoleSupernode: {
		"install":           "Agents only: a supernode installs nothing, so the table is commented out.",
		"retention":         "Agents only: a supernode keeps no install journal, so the table is commented out.",
		"report":            "Agents only: a supernode sends no install reports (it receives them), so the table is commented out.",
		"cosign.publishers": "`patchnet init supernode --vendor-origin URL --vendor-key FILE` fills the \"*\" entry; without them it is a commented-out example, and this supernode co-signs nothing until an entry is filled in.",
	},
}

// commentedOut reports whether the key at path is written as a comment
// for role: it is ignored, or it is for another role.
func commentedOut(role trust.Role, path string) bool {
	switch path {
	case "overlay.zone", "overlay.supernode":
		return true // set by the node itself
	case "cosign":
		return role != trust.RoleSupernode
	case "install", "retention", "report":
		return role != trust.RoleAgent
	}
	return false
}

// omitted reports whether the key at path is left out for role.
func omitted(role trust.Role, path string) bool {
	return role == trust.RolePublisher && (path == "install" || path == "cosign" || path == "retention")
}

// renderConfig writes cfg as a commented TOML config file for role.
func renderConfig(role trust.Role, cfg node.Config, missing []missingKey) ([]byte, error) {
	w := &configWriter{role: role}
	w.intro(cfg, missing)
	w.table(nil, nil, reflect.ValueOf(cfg), reflect.ValueOf(node.DefaultConfig()), false)
	if w.err != nil {
		return nil, fmt.Errorf("rendering the config: %w", w.err)
	}
	return []byte(w.b.String()), nil
}

// configWriter renders a config struct as commented TOML.
type configWriter struct {
	b    strings.Builder
	role trust.Role
	err  error // the first value TOML cannot hold
}

// intro is the file's opening comment.
func (w *configWriter) intro(cfg node.Config, missing []missingKey) {
	w.comment(fmt.Sprintf("patchnet %s configuration, written by `patchnet init %s` (patchnet %s).", w.role, w.role, buildVersion()))
	switch w.role {
	case trust.RoleAgent, trust.RoleSupernode:
		w.comment(fmt.Sprintf("Run it with: patchnet %s --config FILE", w.role))
	}
	w.b.WriteString("#\n")
	w.comment("Every key is here with a comment saying what it does, set to its default unless a flag of `patchnet init` set it. A key left out takes its default, which a later patchnet may change. Lines starting with a \"#\" and no space are keys and examples commented out: remove the \"#\" to use them.")
	if w.role == trust.RolePublisher {
		w.comment("[install] (agents) and [cosign] (supernodes) are left out: a publisher neither installs nor co-signs.")
	}
	w.b.WriteString("#\n")
	w.comment(fmt.Sprintf("The node's key and certificate: `patchnet cert request --role %s --zone ZONE --out %s` writes node.key and node.csr; the zone CA signs the request (`patchnet ca sign --ca ZONEDIR %s`), writing node.crt.",
		w.role, filepath.Dir(cfg.Key), filepath.Join(filepath.Dir(cfg.Key), "node.csr")))
	if len(missing) > 0 {
		w.b.WriteString("#\n")
		w.comment("To fill in before the node starts:")
		for _, m := range missing {
			w.b.WriteString("#   " + m.key + ": " + m.why + "\n")
		}
	}
}

// table writes the keys of the struct v, the table at tomlPath (with map
// keys) and helpPath (with "*" for map keys), then its sub-tables. def is
// the same table of the defaults, or invalid where there are none.
func (w *configWriter) table(tomlPath, helpPath []string, v, def reflect.Value, commented bool) {
	// Values first: TOML puts a table's keys before its sub-tables.
	w.fields(tomlPath, helpPath, v, def, commented, func(tp, hp []string, fv, dv reflect.Value, c bool) {
		switch kindOf(fv.Type()) {
		case kindValue:
			w.value(tp, hp, fv, dv, c)
		case kindValueMap:
			if fv.Len() == 0 || c {
				w.inlineMap(tp, hp, fv, dv, c)
			}
		}
	})
	w.fields(tomlPath, helpPath, v, def, commented, w.subTable)
}

// subTable writes the field at tomlPath as a table, if it is one.
func (w *configWriter) subTable(tp, hp []string, fv, dv reflect.Value, c bool) {
	switch kindOf(fv.Type()) {
	case kindTable:
		w.header(tp, hp, reflect.Value{}, c)
		w.table(tp, hp, fv, dv, c)
	case kindOptionalTable:
		if fv.IsNil() {
			fv, c = w.example(hp, fv), true
		}
		if fv.IsNil() {
			return
		}
		w.header(tp, hp, reflect.Value{}, c)
		w.table(tp, hp, fv.Elem(), reflect.Value{}, c)
	case kindValueMap:
		if fv.Len() > 0 && !c {
			w.header(tp, hp, dv, c)
			w.mapEntries(fv)
		}
	case kindTableMap:
		if fv.Len() == 0 {
			fv, c = w.example(hp, fv), true
		}
		for i, name := range sortedKeys(fv) {
			etp, ehp := extend(tp, name), extend(hp, "*")
			if i == 0 {
				w.header(etp, hp, reflect.Value{}, c)
			} else {
				w.b.WriteString("\n" + commentMark(c) + "[" + tomlPathText(etp) + "]\n")
			}
			w.table(etp, ehp, fv.MapIndex(reflect.ValueOf(name).Convert(fv.Type().Key())), reflect.Value{}, c)
		}
	}
}

// fields calls each with every field of the struct v that this role's file
// has: its TOML path, help path, value, default (fieldOf def) and whether
// it is written commented out.
func (w *configWriter) fields(tomlPath, helpPath []string, v, def reflect.Value, commented bool,
	each func(tp, hp []string, fv, dv reflect.Value, c bool)) {
	for _, k := range tomlKeys(v.Type()) {
		tp, hp := extend(tomlPath, k.name), extend(helpPath, k.name)
		if omitted(w.role, dotted(hp)) {
			continue
		}
		each(tp, hp, v.Field(k.index), fieldOf(def, k.index), commented || commentedOut(w.role, dotted(hp)))
	}
}

// header writes the help of the table at helpPath and its [header]; def is
// the table's default when the help should say it (a map of values).
func (w *configWriter) header(tomlPath, helpPath []string, def reflect.Value, commented bool) {
	w.b.WriteString("\n")
	w.help(dotted(helpPath), def)
	w.b.WriteString(commentMark(commented) + "[" + tomlPathText(tomlPath) + "]\n")
}

// value writes one key = value line with its help.
func (w *configWriter) value(tomlPath, helpPath []string, v, def reflect.Value, commented bool) {
	if isEmpty(v) && !commented {
		if ex, ok := configExamples[dotted(helpPath)]; ok {
			w.b.WriteString("\n")
			w.help(dotted(helpPath), def)
			w.b.WriteString(tomlKeyText(tomlPath[len(tomlPath)-1]) + " = " + w.text(v) + "\n")
			w.b.WriteString("#" + tomlKeyText(tomlPath[len(tomlPath)-1]) + " = " + w.text(reflect.ValueOf(ex)) + "\n")
			return
		}
	}
	w.b.WriteString("\n")
	w.help(dotted(helpPath), def)
	w.b.WriteString(commentMark(commented) + tomlKeyText(tomlPath[len(tomlPath)-1]) + " = " + w.text(v) + "\n")
}

// inlineMap writes a map of values on one line: a commented-out example
// when it is empty, the map itself inside a commented-out table.
func (w *configWriter) inlineMap(tomlPath, helpPath []string, v, def reflect.Value, commented bool) {
	name := tomlKeyText(tomlPath[len(tomlPath)-1])
	w.b.WriteString("\n")
	w.help(dotted(helpPath), def)
	if v.Len() == 0 {
		if ex, ok := configExamples[dotted(helpPath)]; ok {
			w.b.WriteString("#" + name + " = " + w.inline(reflect.ValueOf(ex)) + "\n")
			return
		}
	}
	w.b.WriteString(commentMark(commented) + name + " = " + w.inline(v) + "\n")
}

// mapEntries writes the entries of a map of values, one per line.
func (w *configWriter) mapEntries(v reflect.Value) {
	for _, k := range sortedKeys(v) {
		w.b.WriteString(tomlKeyText(k) + " = " + w.text(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))) + "\n")
	}
}

// example is the example for the key at helpPath, or empty v if it has
// none.
func (w *configWriter) example(helpPath []string, v reflect.Value) reflect.Value {
	ex, ok := configExamples[dotted(helpPath)]
	if !ok || !reflect.TypeOf(ex).AssignableTo(v.Type()) {
		return v
	}
	return reflect.ValueOf(ex)
}

// help writes the help of the key at path, its role note and its default.
func (w *configWriter) help(path string, def reflect.Value) {
	text := configHelp[path]
	if note := roleNotes[w.role][path]; note != "" {
		text = strings.TrimSpace(text + " " + note)
	}
	if def.IsValid() && text != "" && !strings.Contains(text, "Default") && !strings.Contains(text, "Required") {
		text += " Default: " + w.defaultText(def) + "."
	}
	w.comment(text)
}

// defaultText is a default as the help says it.
func (w *configWriter) defaultText(v reflect.Value) string {
	if isEmpty(v) {
		return "none"
	}
	if kindOf(v.Type()) == kindValueMap {
		return w.inline(v)
	}
	return w.text(v)
}

// comment writes text as "# " lines of at most 78 columns.
func (w *configWriter) comment(text string) {
	line := "#"
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > 78 && line != "#" {
			w.b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + word
	}
	if line != "#" {
		w.b.WriteString(line + "\n")
	}
}

// commentMark starts a commented-out line of TOML: "#" with no space, so
// it reads as a key rather than prose.
func commentMark(commented bool) string {
	if commented {
		return "#"
	}
	return ""
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

// text is v as a TOML value.
func (w *configWriter) text(v reflect.Value) string {
	if d, ok := v.Interface().(duration.Duration); ok {
		return tomlString(shortDuration(time.Duration(d)))
	}
	if v.Type().Implements(textMarshalerType) {
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			w.fail(err)
		}
		return w.str(string(b))
	}
	switch v.Kind() {
	case reflect.String:
		return w.str(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		s := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") { // TOML reads "-10" as an integer
			s += ".0"
		}
		return s
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = w.text(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		return w.inline(v)
	}
	w.fail(fmt.Errorf("a %s cannot be written as TOML", v.Type()))
	return `""`
}

// inline is a map of values as a TOML inline table.
func (w *configWriter) inline(v reflect.Value) string {
	if v.Len() == 0 {
		return "{}"
	}
	parts := make([]string, 0, v.Len())
	for _, k := range sortedKeys(v) {
		parts = append(parts, tomlKeyText(k)+" = "+w.text(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// str is s as a TOML string, failing for text TOML cannot hold.
func (w *configWriter) str(s string) string {
	if !utf8.ValidString(s) {
		w.fail(fmt.Errorf("%q is not UTF-8, which TOML requires", s))
	}
	return tomlString(s)
}

// fail records err unless an earlier error is recorded.
func (w *configWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// tomlString is s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// shortDuration is d as Go writes it without zero units: 10m, not 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// tomlKeyText is one key as TOML writes it: bare when it can be.
func tomlKeyText(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return tomlString(k)
}

// tomlPathText is a table's dotted path as a [header] writes it.
func tomlPathText(path []string) string {
	parts := make([]string, len(path))
	for i, k := range path {
		parts[i] = tomlKeyText(k)
	}
	return strings.Join(parts, ".")
}

// keyKind is how a config field is written.
type keyKind int

const (
	kindValue         keyKind = iota // key = value
	kindTable                        // a struct: [key]
	kindOptionalTable                // a pointer to a struct: [key] when set
	kindValueMap                     // a map of values: [key] of name = value
	kindTableMap                     // a map of structs: one [key.name] each
)

// kindOf is how a field of type t is written.
func kindOf(t reflect.Type) keyKind {
	if t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		return kindValue
	}
	switch t.Kind() {
	case reflect.Struct:
		return kindTable
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			return kindOptionalTable
		}
	case reflect.Map:
		if k := kindOf(t.Elem()); k == kindTable || k == kindOptionalTable {
			return kindTableMap
		}
		return kindValueMap
	}
	return kindValue
}

// tomlKey is a field of a config struct and the key TOML reads it from.
type tomlKey struct {
	name  string
	index int
}

// tomlKeys are the keys of struct type t in field order, as go-toml reads
// them: the toml tag's name, else the field's; fields tagged "-" and
// unexported ones are no keys.
func tomlKeys(t reflect.Type) []tomlKey {
	var keys []tomlKey
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		keys = append(keys, tomlKey{name, i})
	}
	return keys
}

// configKeyPaths lists every key and table of a config struct type by its
// dotted path, "*" standing for a map's keys: what configHelp covers.
func configKeyPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for _, k := range tomlKeys(t) {
		p := prefix + k.name
		paths = append(paths, p)
		ft := t.Field(k.index).Type
		switch kindOf(ft) {
		case kindTable:
			paths = append(paths, configKeyPaths(ft, p+".")...)
		case kindOptionalTable:
			paths = append(paths, configKeyPaths(ft.Elem(), p+".")...)
		case kindTableMap:
			et := ft.Elem()
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			paths = append(paths, configKeyPaths(et, p+".*.")...)
		}
	}
	return paths
}

// fieldOf is field i of struct v, or invalid if v is.
func fieldOf(v reflect.Value, i int) reflect.Value {
	if !v.IsValid() {
		return v
	}
	return v.Field(i)
}

// isEmpty reports whether v is an empty string, slice or map.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return false
}

// sortedKeys are the keys of a map with string keys, sorted.
func sortedKeys(v reflect.Value) []string {
	keys := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	return keys
}

// extend is path with key appended, never sharing path's array.
func extend(path []string, key string) []string {
	return append(append(make([]string, 0, len(path)+1), path...), key)
}

// dotted is a path joined by dots.
func dotted(path []string) string { return strings.Join(path, ".") }

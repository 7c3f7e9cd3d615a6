package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
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

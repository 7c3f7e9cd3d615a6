package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/internal/tomlconf"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

func init() { rootCmd.AddCommand(newApplyCmd()) }

// applyConfig is the TOML file --config reads; each key has a flag of the
// same name (state, sysroot, roots, crl, zone, threshold, publishers), and
// a flag given on the command line wins.
type applyConfig struct {
	State           string                `toml:"state"`
	Sysroot         string                `toml:"sysroot"`
	Roots           []string              `toml:"roots"`
	CRL             []string              `toml:"crl"`
	Zone            string                `toml:"zone"`
	ZoneRoot        string                `toml:"zone_root"`
	RequireCRL      bool                  `toml:"require_crl"`
	Threshold       int                   `toml:"threshold"`
	Publishers      int                   `toml:"publishers"`
	RequireToolPins bool                  `toml:"require_tool_pins"`
	ScriptTimeout   string                `toml:"script_timeout"`
	Tools           install.Tools         `toml:"tools"`
	ToolPins        map[string]string     `toml:"tool_pins"`
	Respond         updates.RespondConfig `toml:"respond"`
	Retention       node.RetentionConfig  `toml:"retention"`
}

// defaultStateDir is where an agent keeps its state.
const defaultStateDir = "/var/lib/patchnet"

// defaultApplyConfig is used for every key the file and flags leave out.
func defaultApplyConfig() applyConfig {
	p := updates.DefaultPolicy(trust.Zone{})
	return applyConfig{
		State:         defaultStateDir,
		Sysroot:       "/",
		RequireCRL:    p.RequireCRL,
		Threshold:     p.Threshold,
		Publishers:    p.Publishers,
		ScriptTimeout: install.DefaultScriptTimeout.String(),
		Respond:       updates.DefaultRespondConfig(),
		Retention:     node.DefaultConfig().Retention, // an agent's policy
	}
}

// loadApplyConfig reads path (if any) over the defaults; unknown keys are
// errors, so a typo is not silently ignored, and an error names the file,
// line and column. The file is bounded like a node's config.
func loadApplyConfig(path string) (applyConfig, error) {
	cfg := defaultApplyConfig()
	if path == "" {
		return cfg, nil
	}
	if err := tomlconf.Load(path, node.MaxConfigBytes, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// installConfig is the install.Config of cfg.
func (cfg applyConfig) installConfig() (install.Config, error) {
	ic := install.DefaultConfig(cfg.State)
	ic.Root = cfg.Sysroot
	ic.Tools = cfg.Tools
	ic.ToolPins = cfg.ToolPins
	ic.RequireToolPins = cfg.RequireToolPins
	// apply's finished downloads go once installed, as do the agent's.
	ic.Retention = cfg.Retention.Retention(cfg.State)
	ic.Retention.DownloadDirs = append(ic.Retention.DownloadDirs, filepath.Join(cfg.State, "downloads"))
	d, err := time.ParseDuration(cfg.ScriptTimeout)
	if err != nil {
		return ic, fmt.Errorf("script_timeout %q: %w", cfg.ScriptTimeout, err)
	}
	ic.ScriptTimeout = d
	return ic, ic.Validate()
}

// applyOptions are apply's inputs besides the config.
type applyOptions struct {
	envelope, artifact, prefix, mode string
	ignoreWindow                     bool
	// now overrides the clock (tests); nil is the system clock.
	clock trust.Clock
}

func newApplyCmd() *cobra.Command {
	var configPath string
	var opts applyOptions
	var pinTools bool
	flagCfg := defaultApplyConfig()
	cmd := &cobra.Command{
		Use:   "apply ENVELOPE [--artifact FILE]",
		Short: "Verify a signed announcement and install its artifact, offline or from its URLs",
		Long: `apply is the offline path for air-gapped hosts. It verifies the signed
announcement ENVELOPE exactly as an agent would (signatures and chains to the
pinned --root, publisher and supernode roles, revocation per --crl, expiry,
a version never lower than one already accepted, at least --threshold
distinct supernode co-signatures of --zone), matches it against this host's
inventory (or --sysroot's), decides per the respond mode (apply, notify,
log), checks the artifact's size and SHA-256 while copying it into the state
directory (without --artifact it is first downloaded from the announcement's
vendor URLs, resumably, with progress), and installs it through dpkg, rpm, apk, a script or an archive
swap, as one journalled transaction that 'patchnet history' lists and
'patchnet rollback' undoes.

Installer binaries are hashed before every run; pin them with --pin-tools
(prints a [tool_pins] table for the config) and require_tool_pins = true.

When an agent daemon runs on the state directory it holds the state, so
apply hands the envelope (and the --artifact path) to it over
STATE/patchnet.sock: the daemon verifies it with its own pinned roots, CRLs
and policy (--root, --crl, --zone, --threshold and the respond settings
given here play no part), installs into its own sysroot through its journal
and [install] configuration, and apply prints the same lines as offline.
Without --artifact the daemon fetches the artifact from peers, then the
vendor URLs. --mode, --prefix and --ignore-window are honoured.

Kept before-states, artifacts and finished downloads are pruned after the
install and at the next start by the config's [retention] table (keep_last,
default 3 per package or prefix; max_bytes, default 2 GiB), as an agent
prunes them; each deletion is journalled.`,
		Example: `  patchnet apply update.dsse --artifact openssl_3.0.13-1~deb12u1_amd64.deb \
      --root /etc/patchnet/root.crt --zone acme --state /var/lib/patchnet
  patchnet apply update.dsse --root /etc/patchnet/root.crt --zone acme    # fetches from the announced URLs
  patchnet apply update.dsse --artifact app.tar.gz --prefix /opt/app --config /etc/patchnet/apply.toml
  patchnet apply update.dsse --artifact pkg.deb --sysroot /srv/sandbox --state /tmp/pn --root root.crt --zone lab
  patchnet apply --pin-tools >> /etc/patchnet/apply.toml`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := mergedConfig(cmd, configPath, flagCfg)
			if err != nil {
				return err
			}
			if pinTools {
				return printToolPins(cmd.OutOrStdout(), cfg.Tools)
			}
			if len(args) != 1 {
				return errors.New("apply needs the envelope file (see --help)")
			}
			opts.envelope = args[0]
			return runApply(cmd.Context(), cmd.OutOrStdout(), cfg, opts)
		},
	}
	f := cmd.Flags()
	f.SetNormalizeFunc(normalizeFlag)
	f.StringVar(&configPath, "config", "", "TOML config file (flags override its keys)")
	addStateFlags(cmd, &flagCfg)
	f.StringVar(&opts.artifact, "artifact", "", "the artifact file the announcement describes (default: download it from the announcement's URLs)")
	f.StringSliceVar(&flagCfg.Roots, "root", nil, "pinned root CA certificate (PEM file; repeat or comma-separate for several)")
	f.StringSliceVar(&flagCfg.CRL, "crl", nil, "zone CRLs (PEM or DER files, comma separated)")
	f.StringVar(&flagCfg.Zone, "zone", "", "the zone whose publishers and supernodes must sign")
	f.StringVar(&flagCfg.ZoneRoot, "zone-root", "", "the pinned root that owns --zone (certificate file or SHA-256 fingerprint); needed when several roots are pinned")
	f.BoolVar(&flagCfg.RequireCRL, "require-crl", flagCfg.RequireCRL, "count a signature only with current CRLs of its zone CA and root (--crl)")
	f.IntVar(&flagCfg.Threshold, "threshold", flagCfg.Threshold, "distinct supernode co-signatures required (k)")
	f.IntVar(&flagCfg.Publishers, "publishers", flagCfg.Publishers, "distinct publisher signatures required")
	f.StringVar(&opts.prefix, "prefix", "", "target directory of an archive update, inside the sysroot")
	f.StringVar(&opts.mode, "mode", "", "override the respond mode: apply, notify or log")
	f.BoolVar(&opts.ignoreWindow, "ignore-window", false, "install now even outside the maintenance window or before the rollout's time")
	f.BoolVar(&pinTools, "pin-tools", false, "print the SHA-256 of each installer binary as a [tool_pins] table and exit")
	return cmd
}

// addStateFlags adds --state and --sysroot, shared by apply, history and
// rollback.
func addStateFlags(cmd *cobra.Command, cfg *applyConfig) {
	cmd.Flags().StringVar(&cfg.State, "state", cfg.State, "state directory: journal, kept before-states, seen versions")
	cmd.Flags().StringVar(&cfg.Sysroot, "sysroot", cfg.Sysroot, "filesystem root to install into (a sandbox or image); / is this host")
}

// mergedConfig is the file's config with every flag the user set on top.
func mergedConfig(cmd *cobra.Command, path string, flagCfg applyConfig) (applyConfig, error) {
	cfg, err := loadApplyConfig(path)
	if err != nil {
		return cfg, err
	}
	set := func(name string, apply func()) {
		if cmd.Flags().Changed(name) {
			apply()
		}
	}
	set("state", func() { cfg.State = flagCfg.State })
	set("sysroot", func() { cfg.Sysroot = flagCfg.Sysroot })
	set("root", func() { cfg.Roots = flagCfg.Roots })
	set("crl", func() { cfg.CRL = flagCfg.CRL })
	set("zone", func() { cfg.Zone = flagCfg.Zone })
	set("threshold", func() { cfg.Threshold = flagCfg.Threshold })
	set("publishers", func() { cfg.Publishers = flagCfg.Publishers })
	if abs, err := filepath.Abs(cfg.Sysroot); err == nil {
		cfg.Sysroot = abs
	}
	return cfg, nil
}

// printToolPins writes a [tool_pins] table for this machine's binaries.
func printToolPins(w io.Writer, tools install.Tools) error {
	pins, err := install.PinTools(tools)
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(pins))
	for p := range pins {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	fmt.Fprintln(w, "require_tool_pins = true\n\n[tool_pins]")
	for _, p := range paths {
		fmt.Fprintf(w, "%q = %q\n", p, pins[p])
	}
	return nil
}

// runApply is the whole offline path; each stage prints one progress line.
func runApply(ctx context.Context, w io.Writer, cfg applyConfig, opts applyOptions) error {
	raw, err := readEnvelope(opts.envelope)
	if err != nil {
		return err
	}
	if _, err := trust.ParseEnvelope(raw); err != nil { // before CRLs, whose zone CAs it names
		return fmt.Errorf("reading envelope %s: %w", opts.envelope, err)
	}
	if done, err := daemonApply(ctx, w, cfg, opts, raw); done || err != nil {
		return err // done by the daemon, which holds the state, or it could not be asked
	}
	verifier, err := newApplyVerifier(cfg, raw, opts.clock)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "verifying %s ...\n", opts.envelope)
	st, err := openApplyState(cfg, verifier)
	if err != nil {
		return err
	}
	defer st.close()
	acc, err := st.check(raw)
	if err != nil {
		return err
	}
	a := acc.Announcement
	fmt.Fprintf(w, "  accepted %s version %d: %s\n  signed by %s\n", a.ID, a.Patchnet.Version, orNone(a.Summary), signersText(acc))
	if err := applyAccepted(ctx, w, cfg, opts, st, acc); err != nil {
		return err // not recorded: a failed install leaves no rollback floor behind
	}
	return st.record(acc)
}

// readEnvelope reads the envelope file, bounded like any envelope.
func readEnvelope(path string) ([]byte, error) {
	raw, err := fsutil.ReadFile(path, trust.MaxEnvelopeBytes)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, fmt.Errorf("reading envelope: %w: %w", trust.ErrOversized, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading envelope: %w", err)
	}
	if isBareAnnouncement(raw) {
		return nil, fmt.Errorf("reading envelope %s: %w: this is an announcement, not a signed envelope: sign it with `patchnet update sign`",
			path, trust.ErrMalformed)
	}
	return raw, nil
}

// newApplyVerifier pins cfg.Roots and loads cfg.CRL, learning the zone CAs
// in raw's signature chains first (see newEnvelopeVerifier).
func newApplyVerifier(cfg applyConfig, raw []byte, clock trust.Clock) (*trust.Verifier, error) {
	if len(cfg.Roots) == 0 {
		return nil, errors.New("no pinned roots: pass --root root.crt (or roots = [...] in the config)")
	}
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		env = nil // acceptance reports what is wrong with it
	}
	return newEnvelopeVerifier(cfg.Roots, cfg.CRL, env, clock)
}

// applyState is the acceptance state apply shares with the agent: the
// same seen versions (the rollback floor) in the same database of the
// state directory, STATE/node.
type applyState struct {
	db       *badger.DB
	seen     updates.SeenStore
	acceptor *updates.Acceptor
	verifier *trust.Verifier
	policy   updates.Policy
}

// openApplyState binds cfg's zone to its root and opens STATE/node.
func openApplyState(cfg applyConfig, v *trust.Verifier) (*applyState, error) {
	if cfg.Zone == "" {
		return nil, errors.New("no zone: pass --zone NAME (or zone = \"...\" in the config)")
	}
	zone, err := bindApplyZone(cfg, v)
	if err != nil {
		return nil, err
	}
	policy := updates.Policy{Zone: zone, Threshold: cfg.Threshold, Publishers: cfg.Publishers, RequireCRL: cfg.RequireCRL}
	db, err := node.OpenStateDB(cfg.State)
	if err != nil {
		return nil, err
	}
	seen := updates.NewBadgerSeenStore(db)
	ac, err := updates.NewAcceptor(v, policy, seen)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &applyState{db: db, seen: seen, acceptor: ac, verifier: v, policy: policy}, nil
}

// bindApplyZone is cfg.Zone under the root that owns it: --zone-root (a
// root certificate file or its SHA-256 fingerprint) or, with one root
// pinned, that root.
func bindApplyZone(cfg applyConfig, v *trust.Verifier) (trust.Zone, error) {
	if cfg.ZoneRoot == "" {
		z, err := v.BindZone(cfg.Zone)
		if err != nil {
			return z, fmt.Errorf("%w (--zone-root ROOT.crt)", err)
		}
		return z, nil
	}
	fp, err := trust.ParseFingerprint(cfg.ZoneRoot)
	if err != nil {
		certs, rerr := trust.ReadCertificatesFile(cfg.ZoneRoot)
		if rerr != nil {
			return trust.Zone{}, fmt.Errorf("--zone-root %q: neither a fingerprint nor a certificate file: %w", cfg.ZoneRoot, rerr)
		}
		fp = trust.FingerprintOf(certs[0])
	}
	return v.ZoneUnder(cfg.Zone, fp)
}

func (st *applyState) close() { st.db.Close() }

// check runs the agent's acceptance on raw without recording it: only a
// completed install (or a verdict that it does not apply) is recorded. An
// envelope accepted before (same id, version and payload) passes again
// while its version is the highest accepted, so a failed install can be
// retried; an older one is a rollback.
func (st *applyState) check(raw []byte) (*updates.Accepted, error) {
	acc, err := updates.VerifyAnnouncement(st.verifier, raw, st.policy.Zone, st.policy.Publishers)
	if err != nil {
		return nil, err
	}
	if err := st.acceptor.CheckRetry(acc); err != nil {
		return nil, err
	}
	return acc, nil
}

// record makes acc the rollback floor of its id.
func (st *applyState) record(acc *updates.Accepted) error {
	err := st.acceptor.AcceptVerified(acc)
	if err != nil && !errors.Is(err, updates.ErrDuplicate) {
		return fmt.Errorf("recording %s version %d as seen: %w", acc.Announcement.ID, acc.Announcement.Patchnet.Version, err)
	}
	return nil
}

// applyAccepted runs the agent's workflow (node.Workflow) on acc, with
// apply's hooks: each step printed, no waiting for a window unless
// --ignore-window, the artifact from --artifact or downloaded from its
// URLs. Not applying, notify, log or a later window are outcomes, not
// errors; a refusal or a failed install is an error.
func applyAccepted(ctx context.Context, w io.Writer, cfg applyConfig, opts applyOptions, st *applyState, acc *updates.Accepted) error {
	fmt.Fprintf(w, "matching against %s ...\n", cfg.Sysroot)
	respond, err := updates.NewRespondPolicy(cfg.Respond)
	if err != nil {
		return err
	}
	m, err := openInstaller(ctx, w, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	r := &applyReport{w: w, state: cfg.State}
	flow := &node.Workflow{Verifier: st.verifier, Policy: st.policy, Seen: st.seen, Installs: m, Respond: respond,
		Sysroot: cfg.Sysroot, Prefixes: map[string]string{"*": opts.prefix}, Hooks: node.WorkflowHooks{
			Report: r.step, Decide: r.decide(opts.mode),
			Wait: func(context.Context, time.Time) error {
				if opts.ignoreWindow {
					return nil
				}
				return node.ErrNotNow
			},
			Fetch: func(ctx context.Context, acc *updates.Accepted) (string, func(), error) {
				return artifactFile(ctx, w, cfg.State, opts.artifact, acc.Announcement.Patchnet.Artifact)
			},
		}}
	err = flow.Run(ctx, acc)
	switch {
	case errors.Is(err, node.ErrNotNow):
		return nil
	case err != nil:
		return err
	}
	return r.err
}

// applyReport prints the workflow's steps as apply's progress lines and
// keeps the error of a refusal or failure.
type applyReport struct {
	w       io.Writer
	state   string
	err     error
	matched bool // reasons printed
}

func (r *applyReport) step(acc *updates.Accepted, s node.Step) {
	a := acc.Announcement
	switch s.Kind {
	case node.EventMatched:
		r.reasons(s.Match)
	case node.EventNotApplied:
		r.reasons(s.Match)
		r.notApplied(s)
	case node.EventScheduled:
		fmt.Fprintf(r.w, "not installing before %s (maintenance window or rollout); pass --ignore-window to install now\n", s.At.UTC().Format(time.RFC3339))
	case node.EventInstalling:
		fmt.Fprintf(r.w, "%s\n", s.Detail)
	case node.EventInstalled:
		fmt.Fprintf(r.w, "installed %s (transaction %s); undo with: patchnet rollback %s --state %s\n", s.Tx.Goal, s.Tx.ID, s.Tx.ID, r.state)
		if a.Patchnet.RebootRequired {
			fmt.Fprintln(r.w, "a reboot is required to finish this update: patchnet never reboots by itself")
		}
	case node.EventFailed, node.EventRefusedInstall:
		r.err = s.Err
	case node.EventWithdrawn:
		fmt.Fprintf(r.w, "%s\n", s.Detail)
	}
}

// reasons prints each matching reason, once: the workflow matches again
// after its wait, and apply does not wait.
func (r *applyReport) reasons(m *updates.MatchResult) {
	if m == nil || r.matched {
		return
	}
	r.matched = true
	for _, line := range m.Reasons {
		fmt.Fprintf(r.w, "  %s\n", line)
	}
}

// notApplied prints why nothing is installed.
func (r *applyReport) notApplied(s node.Step) {
	switch {
	case s.Match != nil:
		fmt.Fprintln(r.w, "does not apply to this host: nothing installed")
	case strings.HasPrefix(s.Detail, "respond mode "):
		fmt.Fprintf(r.w, "not installing: the %s (the agent sends notifications; pass --mode apply to install)\n", s.Detail)
	default:
		fmt.Fprintf(r.w, "%s: nothing to do\n", s.Detail)
	}
}

// decide overrides the respond mode with --mode and prints the decision.
func (r *applyReport) decide(mode string) func(d *updates.Decision) {
	return func(d *updates.Decision) {
		if mode != "" {
			d.Mode, d.Reason = updates.Mode(mode), "--mode "+mode
		}
		fmt.Fprintf(r.w, "respond: %s (%s)\n", d.Mode, d.Reason)
	}
}

// artifactFile is the artifact to install: the --artifact file, or one
// downloaded from the announcement's URLs.
func artifactFile(ctx context.Context, w io.Writer, state, given string, art *updates.Artifact) (string, func(), error) {
	if given == "" {
		path, err := downloadArtifact(ctx, w, state, art)
		if err != nil {
			return "", nil, err
		}
		given = path
	}
	fmt.Fprintf(w, "verifying artifact %s (%d bytes, sha256 %s) ...\n", given, art.Size, art.SHA256)
	return given, func() {}, nil
}

// signersText names the publishers and supernodes that signed.
func signersText(acc *updates.Accepted) string {
	name := func(ids []trust.Identity) []string {
		var out []string
		for _, id := range ids {
			out = append(out, id.Subject)
		}
		return out
	}
	return signerNamesText(name(acc.Publishers), name(acc.Supernodes))
}

// signerNamesText names publishers and supernodes by their subjects.
func signerNamesText(publishers, supernodes []string) string {
	return fmt.Sprintf("publisher %s; %d supernode(s): %s", strings.Join(publishers, ", "), len(supernodes), strings.Join(supernodes, ", "))
}

// downloadArtifact fetches art from its vendor URLs into STATE/downloads,
// resuming a partial download, with a progress line on w. The fetch checks
// size and SHA-256 itself; the installer checks them again as it copies.
func downloadArtifact(ctx context.Context, w io.Writer, state string, art *updates.Artifact) (string, error) {
	if len(art.URLs) == 0 {
		return "", fmt.Errorf("the announcement installs %s and names no URL: pass it with --artifact FILE", art.Name)
	}
	dir := filepath.Join(state, "downloads")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("downloading %s: %w", art.Name, err)
	}
	dst := filepath.Join(dir, art.SHA256.String()+"-"+filepath.Base(art.Name))
	fmt.Fprintf(w, "downloading %s from %d URL(s) ...\n", art.Name, len(art.URLs))
	opts := updates.FetchOptions{Progress: updates.TextProgress(w, "  "+art.Name)}
	if err := updates.FetchAny(ctx, art.URLs, updates.WantArtifact(art), dst, opts); err != nil {
		return "", fmt.Errorf("refusing to install: %w", err)
	}
	return dst, nil
}

// openInstaller opens the journal in cfg.State, reporting each step and
// alert on w and any interrupted transaction that opening recovered.
func openInstaller(ctx context.Context, w io.Writer, cfg applyConfig) (*install.Manager, error) {
	ic, err := cfg.installConfig()
	if err != nil {
		return nil, err
	}
	ic.OnStep = func(tx *install.Transaction) { printStep(w, tx) }
	ic.OnAlert = func(al install.Alert) { fmt.Fprintf(w, "ALERT %s: %s\n", al.Kind, al.Message) }
	m, recovered, err := install.Open(ctx, ic)
	if err != nil {
		return nil, err
	}
	for _, tx := range recovered {
		fmt.Fprintf(w, "recovered interrupted transaction %s: %s\n", tx.ID, tx.Outcome())
	}
	return m, nil
}

// printStep prints one journalled step as a progress line.
func printStep(w io.Writer, tx *install.Transaction) {
	st := tx.Steps[len(tx.Steps)-1]
	line := fmt.Sprintf("  [%s] %s", tx.ID, st.State)
	if st.Note != "" {
		line += ": " + st.Note
	}
	fmt.Fprintln(w, line)
}

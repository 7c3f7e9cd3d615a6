package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Manager runs installs and rollbacks as journalled transactions.
type Manager struct {
	cfg        Config
	store      Store
	installers map[string]Installer
	packages   *PackageStore
	mu         sync.Mutex // one transaction at a time: package managers lock anyway
	// freshMu guards fresh: artifacts verified and not yet journalled by
	// their install, which pruning must leave alone. Taken after mu.
	freshMu sync.Mutex
	fresh   map[string]bool
	// crashHook is a test failpoint: called after each step with the
	// step's name; returning true makes the transaction stop there as if
	// the process had died.
	crashHook func(point string) bool
}

// errCrashed is what a transaction stopped by crashHook returns.
var errCrashed = errors.New("simulated crash")

// Crash points, in order; a hook sees each after it happened.
const (
	pointPrepared    = "prepared"
	pointBeforeSaved = "before-saved"
	pointInstalling  = "installing" // journalled, installer not yet run
	pointToolRan     = "tool-ran"   // installer ran, not yet journalled
	pointInstalled   = "installed"
	pointCommitted   = "committed"
)

// crashPoints lists every failpoint in order.
var crashPoints = []string{pointPrepared, pointBeforeSaved, pointInstalling, pointToolRan, pointInstalled, pointCommitted}

// Installers returns the five real installers by method.
func Installers() map[string]Installer {
	out := map[string]Installer{}
	for _, in := range []Installer{Dpkg{}, RPM{}, Apk{}, Script{}, Archive{}} {
		out[in.Method()] = in
	}
	return out
}

// Open opens the journal under cfg.StateDir, recovers any transaction a
// crash left unfinished (the recovered transactions are returned) and
// applies the retention policy.
func Open(ctx context.Context, cfg Config) (*Manager, []*Transaction, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	store, err := OpenBadgerStore(filepath.Join(cfg.StateDir, "journal"))
	if err != nil {
		return nil, nil, err
	}
	m, err := NewManager(cfg, store, Installers())
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	recovered, err := m.Recover(ctx)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	m.mu.Lock()
	m.pruneQuietly(true)
	m.mu.Unlock()
	return m, recovered, nil
}

// NewManager uses store as its journal. Call Recover before installing.
func NewManager(cfg Config, store Store, installers map[string]Installer) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := absolutePaths(&cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	return &Manager{cfg: cfg, store: store, installers: installers, fresh: map[string]bool{},
		packages: NewPackageStore(filepath.Join(cfg.StateDir, "packages"))}, nil
}

// absolutePaths makes the state and download directories absolute, so
// the paths the journal records, and retention compares, do not depend on
// the working directory (apply --state state).
func absolutePaths(cfg *Config) error {
	var err error
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	dirs := make([]string, len(cfg.Retention.DownloadDirs))
	for i, d := range cfg.Retention.DownloadDirs {
		if dirs[i], err = filepath.Abs(d); err != nil {
			return fmt.Errorf("download directory: %w", err)
		}
	}
	cfg.Retention.DownloadDirs = dirs
	return nil
}

// Close closes the journal.
func (m *Manager) Close() error { return m.store.Close() }

// History lists transactions, oldest first.
func (m *Manager) History() ([]*Transaction, error) { return m.store.List() }

// InstalledBy finds the newest committed install of
// announcement id at version that stands (not rolled back, or its rollback
// rolled back), so a caller does not install it twice; nil if
// there is none (or the journal cannot be read, which installing will report).
func (m *Manager) InstalledBy(id string, version uint64) *Transaction {
	txs, err := m.History()
	if err != nil {
		return nil
	}
	j := newJournalView(txs)
	for i := len(txs) - 1; i >= 0; i-- {
		tx := txs[i]
		if tx.Kind == KindInstall && j.stands(tx) &&
			tx.Plan.AnnouncementID == id && tx.Plan.AnnouncementVersion == version {
			return tx
		}
	}
	return nil
}

// Get returns one transaction.
func (m *Manager) Get(id string) (*Transaction, error) {
	if err := CheckTxID(id); err != nil {
		return nil, err
	}
	return m.store.Get(id)
}

// VerifyArtifact checks src against want while copying it into the state
// directory (StateDir/artifacts/SHA256/NAME), where it stays for the
// journal; see the package function. The copy is left alone by pruning
// until it is installed.
func (m *Manager) VerifyArtifact(src string, want Expect) (VerifiedArtifact, error) {
	dir := filepath.Join(m.artifactsDir(), fmt.Sprintf("%x", want.SHA256))
	m.freshMu.Lock()
	defer m.freshMu.Unlock()
	art, err := VerifyArtifact(src, dir, want)
	if err == nil {
		m.fresh[art.Path()] = true
	}
	return art, err
}

// env builds the installer environment of tx. The root is the one the
// transaction recorded, so recovery and rollback work on the root an
// install went to, whatever this Manager's default is.
func (m *Manager) env(tx *Transaction, art VerifiedArtifact) *Env {
	env := &Env{
		Root: tx.Root, TxID: tx.ID, StateDir: m.cfg.StateDir,
		KeepDir: filepath.Join(m.cfg.StateDir, "keep", tx.ID), Plan: tx.Plan,
		RPMDBPath: m.cfg.RPMDBPath, ScriptTimeout: m.cfg.ScriptTimeout,
		MaxArchiveBytes: m.cfg.MaxArchiveBytes, Packages: m.packages, Artifact: art,
		run: &runner{tools: m.cfg.Tools, pins: m.cfg.ToolPins, require: m.cfg.RequireToolPins,
			timeout: m.cfg.ToolTimeout, log: &boundedLog{}, now: m.cfg.Now},
	}
	if tx.Kind == KindRollback {
		if orig, err := m.store.Get(tx.RollbackOf); err == nil && orig.Before.Kind == BeforeTree {
			env.returnTo = orig.Before.Path
		}
	}
	return env
}

// installer returns the installer of a method.
func (m *Manager) installer(method string) (Installer, error) {
	inst, ok := m.installers[method]
	if !ok {
		return nil, fmt.Errorf("no installer for method %q", method)
	}
	return inst, nil
}

// save records a step: the transaction is journalled (synced) before
// anything else happens, then progress is reported.
func (m *Manager) save(tx *Transaction, env *Env, s State, note string) error {
	tx.step(s, m.cfg.Now(), note)
	m.collect(tx, env)
	if err := m.store.Put(tx); err != nil {
		return fmt.Errorf("journalling %s: %w", s, err)
	}
	if m.cfg.OnStep != nil {
		m.cfg.OnStep(tx)
	}
	return nil
}

// collect copies the runner's log, tool digests and new alerts into tx.
func (m *Manager) collect(tx *Transaction, env *Env) {
	if env == nil {
		return
	}
	tx.Log = env.run.log.String()
	tx.Tools = append([]ToolUse(nil), env.run.used...)
	for _, a := range env.run.alerts {
		m.raise(tx, a)
	}
	env.run.alerts = nil
}

// raise records an alert in tx and hands it to OnAlert.
func (m *Manager) raise(tx *Transaction, a Alert) {
	if len(tx.Alerts) < MaxAlerts {
		tx.Alerts = append(tx.Alerts, a)
	}
	if m.cfg.OnAlert != nil {
		m.cfg.OnAlert(a)
	}
}

// crashed consults the failpoint.
func (m *Manager) crashed(point string) bool {
	return m.crashHook != nil && m.crashHook(point)
}

// InstallVerified installs a verified artifact as one transaction and
// returns it; on failure the transaction says why and the host is back at
// its before-state (StateFailed) or an alert says it could not be
// (StateBroken).
func (m *Manager) InstallVerified(ctx context.Context, art VerifiedArtifact, plan Plan) (*Transaction, error) {
	if art.IsZero() {
		return nil, errNotVerified
	}
	inst, err := m.installer(plan.Method)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := &Transaction{ID: newTxID(m.cfg.Now()), Kind: KindInstall, Plan: plan, Root: m.rootName(),
		Artifact: ArtifactRef{Name: art.Name(), Size: art.Size(), SHA256: art.Digest(), Path: art.Path()}}
	env := m.env(tx, art)
	tx, err = m.drive(ctx, tx, env, inst, func(goal Goal) error { return inst.Install(ctx, env, art, goal) },
		func() (Goal, error) { return inst.Describe(ctx, env, art) })
	m.freshMu.Lock()
	delete(m.fresh, art.Path()) // the journal names it now
	m.freshMu.Unlock()
	m.pruneAfter(err)
	return tx, err
}

// pruneAfter applies the retention policy after a transaction, unless the
// transaction stopped at a failpoint (tests).
func (m *Manager) pruneAfter(err error) {
	if !errors.Is(err, errCrashed) {
		m.pruneQuietly(false)
	}
}

// rootName is the root as journalled.
func (m *Manager) rootName() string {
	if m.cfg.Root == "" {
		return "/"
	}
	return m.cfg.Root
}

// drive runs a transaction's steps: prepared, before-saved, installing,
// installed, committed. describe says what the goal is; act changes the
// host. Anything failing after the before-state is saved is undone.
func (m *Manager) drive(ctx context.Context, tx *Transaction, env *Env, inst Installer,
	act func(Goal) error, describe func() (Goal, error)) (*Transaction, error) {
	if err := m.saveAt(tx, env, StatePrepared, pointPrepared); err != nil {
		return tx, err
	}
	if err := m.saveBefore(ctx, tx, env, inst, describe); err != nil {
		return tx, m.fail(tx, env, err, "nothing was changed")
	}
	if m.crashed(pointBeforeSaved) {
		return tx, errCrashed
	}
	if err := m.saveAt(tx, env, StateInstalling, pointInstalling); err != nil {
		return tx, err
	}
	err := act(tx.Goal)
	if m.crashed(pointToolRan) {
		return tx, errCrashed
	}
	if err == nil {
		err = m.verifyReached(ctx, env, inst, tx.Goal)
	}
	if err != nil {
		// Restoring must finish even when the caller gave up (Ctrl-C):
		// stopping half-way would leave the host between versions.
		return tx, m.undo(context.WithoutCancel(ctx), tx, env, inst, err)
	}
	if err := m.saveAt(tx, env, StateInstalled, pointInstalled); err != nil {
		return tx, err
	}
	return tx, m.commit(tx, env, inst, "")
}

// saveAt journals a step, then consults the failpoint of that step.
func (m *Manager) saveAt(tx *Transaction, env *Env, s State, point string) error {
	if err := m.save(tx, env, s, ""); err != nil {
		return err
	}
	if m.crashed(point) {
		return errCrashed
	}
	return nil
}

// saveBefore describes the goal, snapshots the before-state and journals
// both.
func (m *Manager) saveBefore(ctx context.Context, tx *Transaction, env *Env, inst Installer, describe func() (Goal, error)) error {
	if err := preflight(env, inst); err != nil {
		return err
	}
	goal, err := describe()
	if err != nil {
		return err
	}
	before, err := inst.Snapshot(ctx, env, goal)
	if err != nil {
		return err
	}
	goal.Replaces = before.Inode
	tx.Goal, tx.Before = goal, before
	return m.save(tx, env, StateBeforeSaved, before.Describe())
}

// preflight checks every tool the installer needs against its pin before
// anything runs, so a tampered or missing binary stops the transaction
// while the host is untouched.
func preflight(env *Env, inst Installer) error {
	for _, tool := range inst.Tools() {
		if _, err := env.run.path(tool); err != nil {
			return fmt.Errorf("checking installer tools: %w", err)
		}
	}
	return nil
}

// verifyReached confirms through the installer that the host is at goal,
// where the installer can tell.
func (m *Manager) verifyReached(ctx context.Context, env *Env, inst Installer, goal Goal) error {
	ok, err := inst.Reached(ctx, env, goal)
	switch {
	case errors.Is(err, ErrStateUnknown):
		return nil
	case err != nil:
		return fmt.Errorf("checking the installed state: %w", err)
	case !ok:
		return fmt.Errorf("the installer finished but %s is not what is installed", goal)
	}
	return nil
}

// fail ends a transaction that changed nothing.
func (m *Manager) fail(tx *Transaction, env *Env, cause error, note string) error {
	tx.Error = cause.Error()
	if err := m.save(tx, env, StateFailed, note); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// undo restores the before-state after a failed install and ends the
// transaction as failed (restored) or broken (could not restore).
func (m *Manager) undo(ctx context.Context, tx *Transaction, env *Env, inst Installer, cause error) error {
	tx.Error = cause.Error()
	if err := m.restore(ctx, env, inst, tx.Before); err != nil {
		m.raise(tx, Alert{At: m.cfg.Now(), Kind: AlertRecoveryFailed,
			Message: fmt.Sprintf("transaction %s: install failed and the before-state could not be restored: %v", tx.ID, err)})
		tx.Error = cause.Error() + "; restoring: " + err.Error()
		return errors.Join(cause, m.save(tx, env, StateBroken, "restore failed"), err)
	}
	return errors.Join(cause, m.save(tx, env, StateFailed, "before-state restored: "+tx.Before.DescribeRestored()))
}

// restore brings back a before-state and confirms it where the installer
// can tell.
func (m *Manager) restore(ctx context.Context, env *Env, inst Installer, before Before) error {
	if !before.Restorable() {
		return errNoBeforeState(before)
	}
	env.undoing = true
	defer func() { env.undoing = false }()
	if err := inst.Restore(ctx, env, before); err != nil {
		return err
	}
	if before.Kind == BeforePackage || (before.Kind == BeforeAbsent && before.Prefix == "") {
		return m.verifyReached(ctx, env, inst, before.Goal())
	}
	return nil
}

// commit does the bookkeeping of a finished install and journals it.
func (m *Manager) commit(tx *Transaction, env *Env, inst Installer, note string) error {
	if f, ok := inst.(Finisher); ok {
		if err := f.Finish(env, tx.Goal); err != nil {
			return fmt.Errorf("finishing transaction %s: %w", tx.ID, err)
		}
	}
	if tx.Kind == KindInstall && isPackageMethod(tx.Plan.Method) {
		art, err := reverifyKept(tx.Artifact.Path, tx.Artifact.SHA256)
		if err == nil {
			_, err = m.packages.Put(tx.Plan.Method, tx.Goal.Package, tx.Goal.Version, art)
		}
		if err != nil {
			// The host is at the goal either way; only the next upgrade's
			// before-state is affected, so say so rather than fail.
			note = strings.TrimPrefix(note+"; not kept for later rollbacks: "+err.Error(), "; ")
		}
	}
	if tx.Kind == KindRollback {
		if err := m.markRolledBack(tx); err != nil {
			return err
		}
	}
	if err := m.save(tx, env, StateCommitted, note); err != nil {
		return err
	}
	if m.crashed(pointCommitted) {
		return errCrashed
	}
	return nil
}

// isPackageMethod reports whether installs of method are kept in the
// package store.
func isPackageMethod(method string) bool {
	return method == "dpkg" || method == "rpm" || method == "apk"
}

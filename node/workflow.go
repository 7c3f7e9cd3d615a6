package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/patchnet/patchnet/sysinfo"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// Workflow is the one path from an accepted update to its outcome on a
// host: match → respond → schedule → fetch → check again → install. The
// agent daemon runs it for every accepted version (Node.handleAccepted) and
// `patchnet apply` runs it for the one envelope it was given; they differ
// only in their WorkflowHooks (how to wait, where the bytes come from, how
// to report).
type Workflow struct {
	// Verifier, Policy and Seen check the update again before the install
	// transaction, against the CRLs, clock, quarantine and rollback floor
	// as they are then.
	Verifier *trust.Verifier
	Policy   updates.Policy
	Seen     updates.SeenStore
	// Installs is the installer of Sysroot: the journalled install.Manager,
	// or a recording one in tests and the testnet.
	Installs Installer
	// Respond decides per category and zone: apply, notify or log.
	Respond *updates.RespondPolicy
	// Sysroot is the filesystem root inventoried and installed into.
	Sysroot string
	// Prefixes maps a package name to the directory its archive updates
	// unpack into ([install.prefixes]); "*" is for an archive whose
	// packages have no entry (apply's --prefix).
	Prefixes map[string]string
	// Hooks are what the daemon and apply do differently.
	Hooks WorkflowHooks

	installMu sync.Mutex // one install transaction at a time
	// lockOf is the workflow whose installMu this one takes (WithHooks);
	// nil: its own.
	lockOf *Workflow
}

// WithHooks is w with other hooks: the same installer, checks and respond
// policy, and w's install lock, so an install run through it (the local
// API's apply) and one run through w never overlap, and the second finds
// the first's transaction.
func (w *Workflow) WithHooks(h WorkflowHooks) *Workflow {
	owner := w
	if w.lockOf != nil {
		owner = w.lockOf
	}
	return &Workflow{Verifier: w.Verifier, Policy: w.Policy, Seen: w.Seen, Installs: w.Installs, Respond: w.Respond,
		Sysroot: w.Sysroot, Prefixes: w.Prefixes, Hooks: h, lockOf: owner}
}

// installLock is the lock of one install transaction at a time.
func (w *Workflow) installLock() *sync.Mutex {
	if w.lockOf != nil {
		return &w.lockOf.installMu
	}
	return &w.installMu
}

// WorkflowHooks are the parts of the workflow that differ between the
// daemon and `patchnet apply`.
type WorkflowHooks struct {
	// Report is told every step, with the event kind it stands for; the
	// final ones are EventWithdrawn, EventNotApplied, EventSuperseded,
	// EventRefusedInstall, EventFailed and EventInstalled. Required.
	Report func(acc *updates.Accepted, s Step)
	// Decide adjusts the respond decision (apply's --mode); nil keeps it.
	Decide func(d *updates.Decision)
	// InstallTime is when this host may install, given the decision;
	// nil is the decision's NotBefore.
	InstallTime func(a *updates.Announcement, d updates.Decision) time.Time
	// Wait is called when the install may happen only at `at`: the daemon
	// sleeps until then; apply returns ErrNotNow. Required.
	Wait func(ctx context.Context, at time.Time) error
	// Fetch makes acc's artifact available as a file and returns its path
	// and what to do when the workflow is done with it. A failure is
	// retryable (Run returns a RetryableError). Required.
	Fetch func(ctx context.Context, acc *updates.Accepted) (path string, done func(), err error)
	// Notify sends notify-mode notifications; nil sends none.
	Notify func(ctx context.Context, n updates.Notification)
}

// Step is one step of the workflow: what it did, as the event it stands for.
type Step struct {
	Kind   EventKind
	Detail string
	// At is when a scheduled update may be installed (EventScheduled).
	At time.Time
	// Match is the matching result (EventMatched, EventNotApplied).
	Match *updates.MatchResult
	// Tx is the install transaction (EventInstalled, EventFailed).
	Tx *install.Transaction
	// Err is why an update was refused or failed (EventRefusedInstall,
	// EventFailed), with its sentinel (trust.ErrRevoked, a tampered tool…).
	Err error
}

// Workflow steps that are no final outcome, beside EventScheduled.
const (
	EventMatched    EventKind = "matched"    // the update applies to this host
	EventDecided    EventKind = "decided"    // the respond mode says apply
	EventFetching   EventKind = "fetching"   // fetching the artifact
	EventInstalling EventKind = "installing" // the artifact checked, the transaction starts
)

// ErrNotNow is what a Wait hook returns to stop before an install time it
// will not wait for (apply outside a maintenance window).
var ErrNotNow = errors.New("not installing now")

// RetryableError is a failure worth trying again later: the artifact could
// not be fetched, or the inventory not collected.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Run takes acc, an update that passed acceptance, to its outcome. It
// reports every step through Hooks.Report and returns nil once a final
// one was reported; otherwise a RetryableError, ErrNotNow or ctx's error.
func (w *Workflow) Run(ctx context.Context, acc *updates.Accepted) error {
	a := acc.Announcement
	if !a.Withdrawn.IsZero() {
		w.report(acc, EventWithdrawn, fmt.Sprintf("withdrawn at %s: nothing to install; pending installs of earlier versions cancelled", a.Withdrawn.UTC().Format(time.RFC3339)))
		return nil
	}
	if done, err := w.decide(ctx, acc); done || err != nil {
		return err
	}
	w.installLock().Lock()
	defer w.installLock().Unlock()
	if done, err := w.current(ctx, acc); done || err != nil {
		return err
	}
	return w.install(ctx, acc)
}

// decide matches acc against the host, applies the respond policy and waits
// for the install time. done means a final step was reported.
func (w *Workflow) decide(ctx context.Context, acc *updates.Accepted) (done bool, err error) {
	a := acc.Announcement
	res, err := w.match(ctx, a)
	if err != nil {
		return false, &RetryableError{err}
	}
	if !res.Applies {
		w.Hooks.Report(acc, Step{Kind: EventNotApplied, Detail: fmt.Sprintf("does not apply to this host: %v", res.Reasons), Match: &res})
		return true, nil
	}
	w.Hooks.Report(acc, Step{Kind: EventMatched, Detail: fmt.Sprintf("applies to this host: %v", res.Reasons), Match: &res})
	d := w.Respond.DecideInZone(w.Policy.Zone.Name, a, w.Verifier.Now())
	if w.Hooks.Decide != nil {
		w.Hooks.Decide(&d)
	}
	if d.Mode == updates.ModeNotify && w.Hooks.Notify != nil {
		w.Hooks.Notify(ctx, updates.Notification{Announcement: a, Decision: d, Match: &res})
	}
	switch {
	case d.Mode != updates.ModeApply:
		w.report(acc, EventNotApplied, fmt.Sprintf("respond mode %s: %s", d.Mode, d.Reason))
		return true, nil
	case a.Patchnet.Artifact == nil:
		w.report(acc, EventNotApplied, "no artifact to install")
		return true, nil
	}
	w.report(acc, EventDecided, fmt.Sprintf("respond mode apply: %s", d.Reason))
	return false, w.schedule(ctx, acc, d)
}

// schedule waits, through the Wait hook, until the install time.
func (w *Workflow) schedule(ctx context.Context, acc *updates.Accepted, d updates.Decision) error {
	at := d.NotBefore
	if w.Hooks.InstallTime != nil {
		at = w.Hooks.InstallTime(acc.Announcement, d)
	}
	if !at.After(w.Verifier.Now()) {
		return nil
	}
	w.Hooks.Report(acc, Step{Kind: EventScheduled, At: at, Detail: fmt.Sprintf("installing at %s (%s)", at.UTC().Format(time.RFC3339), d.Reason)})
	return w.Hooks.Wait(ctx, at)
}

// current says, after the wait, whether acc must not be installed now: a
// higher version of its id was accepted since (installing it would
// downgrade), it was installed already, or it no longer applies to the
// host as it is now. Callers hold installMu.
func (w *Workflow) current(ctx context.Context, acc *updates.Accepted) (done bool, err error) {
	a := acc.Announcement
	high, ok, err := w.Seen.Highest(a.ID)
	if err != nil {
		return false, &RetryableError{fmt.Errorf("reading seen versions of %s: %w", a.ID, err)}
	}
	if ok && high > a.Patchnet.Version {
		w.report(acc, EventSuperseded, fmt.Sprintf("superseded by version %d: not installing version %d", high, a.Patchnet.Version))
		return true, nil
	}
	if prior := w.Installs.InstalledBy(a.ID, a.Patchnet.Version); prior != nil {
		w.report(acc, EventNotApplied, fmt.Sprintf("already installed by transaction %s (%s)", prior.ID, prior.Outcome()))
		return true, nil
	}
	res, err := w.match(ctx, a)
	if err != nil {
		return false, &RetryableError{err}
	}
	if !res.Applies {
		w.Hooks.Report(acc, Step{Kind: EventNotApplied, Detail: fmt.Sprintf("no longer applies to this host: %v", res.Reasons), Match: &res})
		return true, nil
	}
	return false, nil
}

// install checks acc again, fetches, verifies the artifact, checks acc once
// more (the fetch may have taken long) and installs it as one journalled
// transaction.
func (w *Workflow) install(ctx context.Context, acc *updates.Accepted) error {
	a := acc.Announcement
	art := a.Patchnet.Artifact
	prefix, err := w.archivePrefix(a)
	if err == nil {
		err = w.recheck(acc)
	}
	if err != nil {
		w.fail(acc, EventRefusedInstall, err, nil)
		return nil
	}
	w.report(acc, EventFetching, "fetching "+art.Name)
	path, done, err := w.Hooks.Fetch(ctx, acc)
	if err != nil {
		return &RetryableError{fmt.Errorf("fetching %s: %w", art.Name, err)}
	}
	defer done()
	verified, err := w.Installs.VerifyArtifact(path, install.Expect{Name: art.Name, Size: art.Size, SHA256: art.SHA256})
	if err != nil {
		w.fail(acc, EventFailed, fmt.Errorf("refusing to install: %w", err), nil)
		return nil
	}
	if err := w.recheck(acc); err != nil {
		w.fail(acc, EventRefusedInstall, err, nil)
		return nil
	}
	w.report(acc, EventInstalling, fmt.Sprintf("installing %s with %s into %s", art.Name, art.Method, w.Sysroot))
	tx, err := w.Installs.InstallVerified(ctx, verified, install.Plan{
		AnnouncementID: a.ID, AnnouncementVersion: a.Patchnet.Version, Summary: a.Summary,
		Method: string(art.Method), Instructions: art.Instructions, Prefix: prefix,
	})
	switch {
	case err != nil && tx != nil:
		w.fail(acc, EventFailed, fmt.Errorf("transaction %s %s: %w", tx.ID, tx.State, err), tx)
	case err != nil:
		w.fail(acc, EventFailed, err, nil)
	default:
		w.Hooks.Report(acc, Step{Kind: EventInstalled, Detail: fmt.Sprintf("installed %s (transaction %s)", tx.Goal, tx.ID), Tx: tx})
	}
	return nil
}

// fail reports a refusal or failure with its error.
func (w *Workflow) fail(acc *updates.Accepted, kind EventKind, err error, tx *install.Transaction) {
	w.Hooks.Report(acc, Step{Kind: kind, Detail: err.Error(), Err: err, Tx: tx})
}

// report reports a step that carries only a detail.
func (w *Workflow) report(acc *updates.Accepted, kind EventKind, detail string) {
	w.Hooks.Report(acc, Step{Kind: kind, Detail: detail})
}

// match matches a against a fresh inventory of the sysroot. When a names
// packages, the sysroot's package database must have been read: without it
// every package looks absent, and "does not apply" would be recorded for
// good on the strength of a missing or unreadable database.
func (w *Workflow) match(ctx context.Context, a *updates.Announcement) (updates.MatchResult, error) {
	inv, err := sysinfo.Collect(ctx, sysinfo.Options{Root: w.Sysroot, PackagesOnly: true})
	if err != nil {
		return updates.MatchResult{}, fmt.Errorf("collecting the inventory of %s: %w", w.Sysroot, err)
	}
	if len(a.Affected) > 0 {
		if err := requirePackageDatabase(w.Sysroot, inv); err != nil {
			return updates.MatchResult{}, err
		}
	}
	return updates.Match(updates.HostFromInventory(inv), a), nil
}

// requirePackageDatabase fails when the packages installed in sysroot
// cannot be known: it holds no package database (an empty or mistyped
// sysroot), or one could not be read.
func requirePackageDatabase(sysroot string, inv *sysinfo.Inventory) error {
	dbs, err := sysinfo.PackageDatabases(sysroot)
	if err != nil {
		return fmt.Errorf("matching against %s: %w", sysroot, err)
	}
	if len(dbs) == 0 {
		return fmt.Errorf("matching against %s: the sysroot holds no package database (%s), so what it has installed is unknown: check --sysroot",
			sysroot, sysinfo.PackageDatabaseNames)
	}
	for _, e := range inv.Errors {
		switch e.Collector {
		case sysinfo.CollectorDpkg, sysinfo.CollectorRPM, sysinfo.CollectorApk:
			return fmt.Errorf("matching against %s: reading its %s packages: %s", sysroot, e.Collector, e.Error)
		}
	}
	return nil
}

// recheck verifies acc again against the CRLs, clock and quarantine as
// they are now (updates.Recheck): what waited for a window, a rollout slot
// or a fetch is not trusted on the strength of an old check.
func (w *Workflow) recheck(acc *updates.Accepted) error {
	a := acc.Announcement
	if _, err := updates.Recheck(w.Verifier, acc, w.Policy); err != nil {
		return fmt.Errorf("refusing to install: %w", err)
	}
	alert, err := updates.Quarantined(w.Seen, a.ID, a.Patchnet.Version)
	if err != nil {
		return fmt.Errorf("refusing to install: %w", err)
	}
	if alert != nil {
		return fmt.Errorf("refusing to install %s version %d: quarantined: %s", a.ID, a.Patchnet.Version, alert)
	}
	return nil
}

// archivePrefix is where an archive update unpacks: the directory Prefixes
// names for one of its affected packages. Other methods need none.
func (w *Workflow) archivePrefix(a *updates.Announcement) (string, error) {
	if a.Patchnet.Artifact.Method != updates.MethodArchive {
		return "", nil
	}
	for _, af := range a.Affected {
		if p, ok := w.Prefixes[af.Package.Name]; ok {
			return p, nil
		}
	}
	if p, ok := w.Prefixes["*"]; ok {
		return p, nil
	}
	return "", fmt.Errorf("refusing to install %s: an archive, and no [install.prefixes] entry names any of its packages", a.ID)
}

package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/sysinfo"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// onAnnouncement acts on an announcement the validator verified and merged
// (m.Verified): every role keeps the merged envelope for peers catching up,
// a supernode considers co-signing it, an agent runs acceptance on it.
func (n *Node) onAnnouncement(m overlay.Message) {
	va, ok := m.Verified.(*verifiedAnnouncement)
	if !ok {
		return
	}
	n.keep(va)
	if n.IsSupernode() {
		n.considerCoSigning(va)
	}
	if n.IsAgent() {
		n.accept(va)
	}
}

// keep stores the merged envelope for catch-up: it carries every
// co-signature seen, so a node that was offline needs one item.
func (n *Node) keep(va *verifiedAnnouncement) {
	raw, err := va.Envelope.Marshal()
	if err == nil {
		_, err = n.ov.Keep(overlay.KindAnnouncement, raw)
	}
	if err != nil {
		n.log.Warn("keeping announcement for catch-up", "err", err)
	}
}

// refreshed is va with its signers' chains verified again against the CRLs
// held now (see updates.RefreshSigners).
func (n *Node) refreshed(va *verifiedAnnouncement) *verifiedAnnouncement {
	return &verifiedAnnouncement{Accepted: updates.RefreshSigners(n.verifier, va.Accepted, n.zone), Envelope: va.Envelope}
}

// accept runs acceptance (rollback, quorum, equivocation) on a verified
// announcement and reports the outcome.
func (n *Node) accept(va *verifiedAnnouncement) {
	acc := va.Accepted
	a := acc.Announcement
	err := n.acceptor.AcceptVerified(acc)
	var eq *updates.EquivocationError
	switch {
	case err == nil:
		n.emit(Event{Kind: EventAccepted, ID: a.ID, Version: a.Patchnet.Version,
			Signers: subjects(acc.Supernodes), Detail: fmt.Sprintf("%d supernode co-signatures", len(acc.Supernodes))})
		n.cancelOlder(a)
		raw, err := va.Envelope.Marshal()
		if err == nil {
			_, err = n.life.accept(acc, raw)
		}
		if err != nil {
			n.log.Warn("recording the accepted update", "id", a.ID, "err", err)
		}
		n.queueInstall(acc)
	case errors.Is(err, updates.ErrDuplicate):
		n.retryDuplicate(va)
	case errors.As(err, &eq):
		n.log.Warn("equivocation quarantined", "alert", eq.Alert.String())
		n.emit(Event{Kind: EventQuarantined, ID: eq.Alert.ID, Version: eq.Alert.Version,
			Signers: eq.Alert.Second.Signers, Detail: eq.Alert.String()})
		n.cancelVersion(eq.Alert.ID, eq.Alert.Version)
		n.notify(context.Background(), updates.Notification{Alert: &eq.Alert})
	case errors.Is(err, trust.ErrInsufficientSigners):
		n.emit(Event{Kind: EventPending, ID: a.ID, Version: a.Patchnet.Version, Signers: subjects(acc.Supernodes),
			Detail: pendingText(acc, n.policy, err)})
	default:
		n.emit(Event{Kind: EventRejected, ID: a.ID, Version: a.Patchnet.Version, Detail: err.Error()})
	}
}

// countedCoSigners are acc's co-signers that count under policy.
func countedCoSigners(acc *updates.Accepted, policy updates.Policy) []trust.Identity {
	var out []trust.Identity
	for _, id := range acc.Supernodes {
		if !policy.RequireCRL || id.CRLCurrent {
			out = append(out, id)
		}
	}
	return out
}

// pendingText says how far acc is from its quorum.
func pendingText(acc *updates.Accepted, policy updates.Policy, err error) string {
	have := len(countedCoSigners(acc, policy))
	switch {
	case have < len(acc.Supernodes):
		return fmt.Sprintf("%d of %d supernode co-signatures count: %d more wait for a current CRL of their zone CA and root",
			have, policy.Threshold, len(acc.Supernodes)-have)
	case have < policy.Threshold:
		return fmt.Sprintf("%d of %d supernode co-signatures: waiting for more", have, policy.Threshold)
	}
	return fmt.Sprintf("waiting: %v", err)
}

func subjects(ids []trust.Identity) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, id.Subject)
	}
	return out
}

// installLoop hands each accepted announcement to its own goroutine.
func (n *Node) installLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case acc := <-n.installQ:
			// Each announcement waits for its own window or rollout slot;
			// installs themselves run one at a time (installMu).
			n.wg.Go(func() { n.handleAccepted(ctx, acc) })
		}
	}
}

// retryableError is a failure worth trying again later: the artifact could
// not be fetched, or the inventory not collected.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// handleAccepted installs an accepted announcement, retrying failed fetches
// with backoff (MaxFetchAttempts). Each step is recorded in its lifecycle
// record; one left unfinished (gave up, or the node stopped) is taken up
// again at start or by the next copy.
func (n *Node) handleAccepted(ctx context.Context, acc *updates.Accepted) {
	a := acc.Announcement
	defer n.life.unclaim(a.ID, a.Patchnet.Version)
	ctx, done := n.handlers.start(ctx, a.ID, a.Patchnet.Version)
	defer done()
	for attempt := 1; ; attempt++ {
		err := n.installOnce(ctx, acc)
		var retry *retryableError
		switch {
		case ctx.Err() != nil && context.Cause(ctx) != ctx.Err():
			n.cancelled(acc, context.Cause(ctx)) // superseded, withdrawn or quarantined while waiting
			return
		case ctx.Err() != nil:
			return
		case !errors.As(err, &retry):
			return // a final outcome, recorded by installOnce
		case attempt >= MaxFetchAttempts:
			n.retrying(a, StateGaveUp, fmt.Sprintf("%v: gave up after %d attempts; kept pending for a restart or the next copy", err, attempt))
			return
		}
		wait := n.retryDelay(attempt)
		n.retrying(a, StateFetching, fmt.Sprintf("%v: retrying in %v (attempt %d of %d)", err, wait, attempt, MaxFetchAttempts))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// retrying records a failed attempt (state fetching, or gave-up) and
// reports it as a failed event.
func (n *Node) retrying(a *updates.Announcement, state State, detail string) {
	if err := n.life.move(a.ID, a.Patchnet.Version, state, detail, nil); err != nil {
		n.log.Warn("recording update state", "id", a.ID, "err", err)
	}
	n.emit(Event{Kind: EventFailed, ID: a.ID, Version: a.Patchnet.Version, Detail: detail})
}

// retryDelay is the wait after a failed attempt: Config.FetchRetry,
// doubling per attempt, at most MaxFetchRetryBackoff.
func (n *Node) retryDelay(attempt int) time.Duration {
	d := time.Duration(n.cfg.FetchRetry)
	for i := 1; i < attempt && d < MaxFetchRetryBackoff; i++ {
		d *= 2
	}
	return min(d, MaxFetchRetryBackoff)
}

// installOnce matches an accepted announcement against this host, decides
// per the respond policy, then, one install at a time, skips it if it was
// superseded or no longer applies, fetches and installs. It emits the event
// of a final outcome and returns nil, or returns a retryableError.
func (n *Node) installOnce(ctx context.Context, acc *updates.Accepted) error {
	a := acc.Announcement
	ev := func(kind EventKind, format string, args ...any) { n.step(a, kind, fmt.Sprintf(format, args...), nil) }
	if !a.Withdrawn.IsZero() {
		ev(EventWithdrawn, "withdrawn at %s: nothing to install; pending installs of earlier versions cancelled", a.Withdrawn.UTC().Format(time.RFC3339))
		return nil
	}
	ok, why, err := n.shouldInstall(ctx, a)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return &retryableError{err}
	case !ok:
		ev(EventNotApplied, "%s", why)
		return nil
	}
	n.installMu.Lock()
	defer n.installMu.Unlock()
	kind, why, err := n.obsolete(ctx, a)
	switch {
	case err != nil:
		return &retryableError{err}
	case why != "":
		ev(kind, "%s", why)
		return nil
	}
	tx, err := n.fetchAndInstall(ctx, acc)
	var retry *retryableError
	var refused *refusedError
	switch {
	case errors.As(err, &retry):
		return err
	case errors.As(err, &refused):
		ev(EventRefusedInstall, "%v", refused.err)
		return nil
	case err != nil:
		ev(EventFailed, "%v", err)
		return nil
	}
	ev(EventInstalled, "installed %s (transaction %s)", tx.Goal, tx.ID)
	return nil
}

// obsolete says why a, after its wait, must not be installed now: a higher
// version of its id was accepted since (installing a would downgrade), it
// was installed already, or it no longer applies to the host as it is now.
// Callers hold installMu.
func (n *Node) obsolete(ctx context.Context, a *updates.Announcement) (EventKind, string, error) {
	high, ok, err := n.seen.Highest(a.ID)
	if err != nil {
		return "", "", fmt.Errorf("reading seen versions of %s: %w", a.ID, err)
	}
	if ok && high > a.Patchnet.Version {
		return EventSuperseded, fmt.Sprintf("superseded by version %d: not installing version %d", high, a.Patchnet.Version), nil
	}
	if prior := n.installs.InstalledBy(a.ID, a.Patchnet.Version); prior != nil {
		return EventNotApplied, fmt.Sprintf("already installed by transaction %s", prior.ID), nil
	}
	res, err := n.match(ctx, a)
	if err != nil {
		return "", "", err
	}
	if !res.Applies {
		return EventNotApplied, fmt.Sprintf("no longer applies to this host: %v", res.Reasons), nil
	}
	return "", "", nil
}

// match matches a against a fresh inventory of the sysroot.
func (n *Node) match(ctx context.Context, a *updates.Announcement) (updates.MatchResult, error) {
	inv, err := sysinfo.Collect(ctx, sysinfo.Options{Root: n.cfg.Sysroot})
	if err != nil {
		return updates.MatchResult{}, fmt.Errorf("collecting the inventory of %s: %w", n.cfg.Sysroot, err)
	}
	return updates.Match(updates.HostFromInventory(inv), a), nil
}

// shouldInstall matches a against the sysroot's inventory and applies the
// respond policy, waiting for a maintenance window or rollout slot.
func (n *Node) shouldInstall(ctx context.Context, a *updates.Announcement) (bool, string, error) {
	res, err := n.match(ctx, a)
	if err != nil {
		return false, "", err
	}
	if !res.Applies {
		return false, fmt.Sprintf("does not apply to this host: %v", res.Reasons), nil
	}
	d := n.respond.DecideInZone(n.cfg.Zone, a, n.verifier.Now())
	if d.Mode == updates.ModeNotify {
		n.notify(ctx, updates.Notification{Announcement: a, Decision: d, Match: &res})
	}
	if d.Mode != updates.ModeApply {
		return false, fmt.Sprintf("respond mode %s: %s", d.Mode, d.Reason), nil
	}
	if a.Patchnet.Artifact == nil {
		return false, "no artifact to install", nil
	}
	at := n.installTime(a, d)
	if wait := at.Sub(n.verifier.Now()); wait > 0 {
		n.step(a, EventScheduled, fmt.Sprintf("installing at %s (%s)", at.UTC().Format(time.RFC3339), d.Reason),
			func(r *UpdateRecord) { r.NotBefore = at })
		select {
		case <-ctx.Done():
			return false, "", ctx.Err()
		case <-time.After(wait):
		}
	}
	return true, "", nil
}

// installTime is when this host may install: the respond decision's
// NotBefore (maintenance window, rollout start), or later by this host's
// stable share of the rollout spread (from the rollout start, or now),
// moved into the next maintenance window.
func (n *Node) installTime(a *updates.Announcement, d updates.Decision) time.Time {
	at := d.NotBefore
	delay := updates.RolloutDelay(a, []byte(n.ID()))
	if delay <= 0 {
		return at
	}
	base := n.verifier.Now()
	if r := a.Patchnet.Rollout; r != nil && r.NotBefore.After(base) {
		base = r.NotBefore
	}
	if spread := n.respond.NextWindow(base.Add(delay)); spread.After(at) {
		at = spread
	}
	return at
}

// fetchAndInstall checks acc again, fetches the artifact into the state
// directory, checks acc once more (the fetch may have taken long) and
// installs it as one journalled transaction.
func (n *Node) fetchAndInstall(ctx context.Context, acc *updates.Accepted) (*install.Transaction, error) {
	if err := n.recheck(acc); err != nil {
		return nil, err
	}
	a := acc.Announcement
	art := a.Patchnet.Artifact
	prefix, err := n.archivePrefix(a)
	if err != nil {
		return nil, err
	}
	if err := n.life.move(a.ID, a.Patchnet.Version, StateFetching, "fetching "+art.Name, func(r *UpdateRecord) { r.Attempts++ }); err != nil {
		return nil, &retryableError{err}
	}
	dir := filepath.Join(n.cfg.State, "incoming")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, art.SHA256.String())
	res, err := n.fetchFile(ctx, art, path)
	if err != nil {
		return nil, &retryableError{err}
	}
	defer os.Remove(path)
	n.emit(Event{Kind: EventFetched, ID: a.ID, Version: a.Patchnet.Version, Source: res.source, From: res.from, Detail: res.detail})
	verified, err := n.installs.VerifyArtifact(path, install.Expect{Name: art.Name, Size: art.Size, SHA256: art.SHA256})
	if err != nil {
		return nil, fmt.Errorf("refusing to install: %w", err)
	}
	if err := n.recheck(acc); err != nil {
		return nil, err
	}
	if err := n.life.move(a.ID, a.Patchnet.Version, StateInstalling, "installing "+art.Name, nil); err != nil {
		return nil, &retryableError{err}
	}
	tx, err := n.installs.InstallVerified(ctx, verified, install.Plan{
		AnnouncementID: a.ID, AnnouncementVersion: a.Patchnet.Version, Summary: a.Summary,
		Method: string(art.Method), Instructions: art.Instructions, Prefix: prefix,
	})
	if err != nil && tx != nil {
		return nil, fmt.Errorf("transaction %s %s: %w", tx.ID, tx.State, err)
	}
	return tx, err
}

// fetchFile fetches art into path; a failed fetch leaves no file.
func (n *Node) fetchFile(ctx context.Context, art *updates.Artifact, path string) (fetched, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fetched{}, fmt.Errorf("creating %s: %w", path, err)
	}
	fctx, cancel := context.WithTimeout(ctx, time.Duration(n.cfg.FetchTimeout))
	defer cancel()
	res, err := n.fetch(fctx, art, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fetched{}, fmt.Errorf("fetching %s: %w", art.Name, err)
	}
	return res, nil
}

// refusedError is an accepted update that no longer passes when checked
// again before it is installed: final, nothing was installed.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// recheck verifies acc again against the CRLs, clock and quarantine as they
// are now (updates.Recheck): what waited for a window, a rollout slot or a
// fetch is not trusted on the strength of an old check.
func (n *Node) recheck(acc *updates.Accepted) error {
	a := acc.Announcement
	if _, err := updates.Recheck(n.verifier, acc, n.policy); err != nil {
		return &refusedError{fmt.Errorf("refusing to install: %w", err)}
	}
	alert, err := updates.Quarantined(n.seen, a.ID, a.Patchnet.Version)
	if err != nil {
		return &retryableError{err}
	}
	if alert != nil {
		return &refusedError{fmt.Errorf("refusing to install %s version %d: quarantined: %s", a.ID, a.Patchnet.Version, alert)}
	}
	return nil
}

// archivePrefix is where an archive update unpacks: the directory the
// agent's [install.prefixes] names for one of its affected packages. Other
// methods need none.
func (n *Node) archivePrefix(a *updates.Announcement) (string, error) {
	if a.Patchnet.Artifact.Method != updates.MethodArchive {
		return "", nil
	}
	for _, af := range a.Affected {
		if p, ok := n.cfg.Install.Prefixes[af.Package.Name]; ok {
			return p, nil
		}
	}
	return "", &refusedError{fmt.Errorf("refusing to install %s: an archive, and no [install.prefixes] entry names any of its packages", a.ID)}
}

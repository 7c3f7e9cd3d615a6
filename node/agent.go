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

// onAnnouncement merges a validated envelope's verified signatures with
// those of the same payload seen before and keeps the result for peers
// catching up; on agents, each merge that added a signature runs the
// acceptance pipeline on the merged envelope.
func (n *Node) onAnnouncement(_ context.Context, m overlay.Message) {
	env, rejected, err := n.verifiedSignatures(m.Data)
	if err != nil {
		return
	}
	if len(rejected) > 0 {
		n.emit(Event{Kind: EventRejected, Detail: fmt.Sprintf("dropped %d signature(s) that do not count: %v", len(rejected), rejected)})
	}
	merged, added := n.merge.add(env)
	if added == 0 {
		return
	}
	raw, err := merged.Marshal()
	if err != nil {
		return
	}
	// Every role serves catch-up: the merged envelope carries every
	// co-signature seen, so a node that was offline needs one item.
	if _, err := n.ov.Keep(overlay.KindAnnouncement, raw); err != nil {
		n.log.Warn("keeping announcement for catch-up", "err", err)
	}
	if n.IsSupernode() {
		n.considerCoSigning(m.Data)
	}
	if n.IsAgent() {
		n.accept(raw)
	}
}

// accept runs updates.Acceptor on a merged envelope and reports the outcome.
func (n *Node) accept(raw []byte) {
	acc, err := n.acceptor.Accept(raw)
	var eq *updates.EquivocationError
	switch {
	case err == nil:
		a := acc.Announcement
		n.emit(Event{Kind: EventAccepted, ID: a.ID, Version: a.Patchnet.Version,
			Signers: subjects(acc.Supernodes), Detail: fmt.Sprintf("%d supernode co-signatures", len(acc.Supernodes))})
		if err := n.toInstall.put(a.ID, pendingInstall{Version: a.Patchnet.Version, Digest: acc.Digest, Envelope: raw}); err != nil {
			n.log.Warn("recording pending install", "id", a.ID, "err", err)
		}
		n.queueInstall(acc)
	case errors.Is(err, updates.ErrDuplicate):
		n.retryDuplicate(raw)
	case errors.As(err, &eq):
		n.log.Warn("equivocation quarantined", "alert", eq.Alert.String())
		n.emit(Event{Kind: EventQuarantined, ID: eq.Alert.ID, Version: eq.Alert.Version,
			Signers: eq.Alert.Second.Signers, Detail: eq.Alert.String()})
		n.notify(context.Background(), updates.Notification{Alert: &eq.Alert})
	case errors.Is(err, trust.ErrInsufficientSigners):
		n.pending(raw, err)
	default:
		n.emit(Event{Kind: EventRejected, Detail: err.Error()})
	}
}

// pending reports an announcement still short of k co-signatures.
func (n *Node) pending(raw []byte, err error) {
	e := Event{Kind: EventPending, Detail: err.Error()}
	if acc, verr := updates.VerifyAnnouncement(n.verifier, raw, n.cfg.Zone, n.cfg.Publishers); verr == nil {
		e.ID, e.Version = acc.Announcement.ID, acc.Announcement.Patchnet.Version
		e.Signers = subjects(acc.Envelope.SignersWith(trust.RoleSupernode, n.cfg.Zone))
		e.Detail = fmt.Sprintf("%d of %d supernode co-signatures: waiting for more", len(e.Signers), n.cfg.Threshold)
	}
	n.emit(e)
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
// with backoff (MaxFetchAttempts). Its pending record is forgotten on a
// final outcome (installed, not applicable, superseded, install failed) and
// kept otherwise, so a restart or the next copy tries again.
func (n *Node) handleAccepted(ctx context.Context, acc *updates.Accepted) {
	a := acc.Announcement
	defer n.toInstall.unclaim(a.ID, a.Patchnet.Version)
	for attempt := 1; ; attempt++ {
		err := n.installOnce(ctx, acc)
		var retry *retryableError
		switch {
		case ctx.Err() != nil:
			return
		case !errors.As(err, &retry):
			if err := n.toInstall.finish(a.ID, a.Patchnet.Version); err != nil {
				n.log.Warn("forgetting pending install", "id", a.ID, "err", err)
			}
			return
		case attempt >= MaxFetchAttempts:
			n.emit(Event{Kind: EventFailed, ID: a.ID, Version: a.Patchnet.Version, Detail: fmt.Sprintf(
				"%v: gave up after %d attempts; kept pending for a restart or the next copy", err, attempt)})
			return
		}
		wait := n.retryDelay(attempt)
		n.emit(Event{Kind: EventFailed, ID: a.ID, Version: a.Patchnet.Version, Detail: fmt.Sprintf(
			"%v: retrying in %v (attempt %d of %d)", err, wait, attempt, MaxFetchAttempts)})
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
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
	ev := func(kind EventKind, format string, args ...any) {
		n.emit(Event{Kind: kind, ID: a.ID, Version: a.Patchnet.Version, Detail: fmt.Sprintf(format, args...)})
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
	tx, err := n.fetchAndInstall(ctx, a)
	var retry *retryableError
	switch {
	case errors.As(err, &retry):
		return err
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
		n.emit(Event{Kind: EventScheduled, ID: a.ID, Version: a.Patchnet.Version,
			Detail: fmt.Sprintf("installing at %s (%s)", at.UTC().Format(time.RFC3339), d.Reason)})
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

// fetchAndInstall fetches the artifact into the state directory and installs
// it as one journalled transaction.
func (n *Node) fetchAndInstall(ctx context.Context, a *updates.Announcement) (*install.Transaction, error) {
	art := a.Patchnet.Artifact
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
	tx, err := n.installs.InstallVerified(ctx, verified, install.Plan{
		AnnouncementID: a.ID, AnnouncementVersion: a.Patchnet.Version, Summary: a.Summary,
		Method: string(art.Method), Instructions: art.Instructions,
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

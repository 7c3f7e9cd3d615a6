package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// onAnnouncement acts on an announcement the validator verified and merged
// (m.Verified): a supernode considers co-signing it, an agent runs
// acceptance on it, and every role then keeps the merged envelope for
// peers catching up. Keeping comes last because it is a database write
// the node's own decision does not need: first, it stood in the time of
// every acceptance and co-signature, and where the CPU is saturated (the
// testnet's sim) a commit waits for the database's writer goroutine and
// then for its own turn to wake.
func (n *Node) onAnnouncement(m overlay.Message) {
	va, ok := m.Verified.(*verifiedAnnouncement)
	if !ok {
		return
	}
	if n.IsSupernode() {
		n.considerCoSigning(va)
	}
	if n.IsAgent() {
		n.accept(va, m.Received)
	}
	n.keep(va)
}

// keep stores the merged envelope for catch-up: it carries every
// co-signature seen, so a node that was offline needs one item.
func (n *Node) keep(va *verifiedAnnouncement) {
	raw, err := va.marshal()
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
// announcement and reports the outcome; received is when the message
// carrying it reached the node (zero when none did just now).
func (n *Node) accept(va *verifiedAnnouncement, received time.Time) {
	acc := va.Accepted
	a := acc.Announcement
	err := n.acceptHolding(va)
	var eq *updates.EquivocationError
	if err == nil || errors.Is(err, updates.ErrDuplicate) {
		n.cosigners.heard([32]byte(a.Patchnet.Artifact.SHA256), supernodeIDs(acc, n.ID()))
	}
	switch {
	case err == nil:
		n.emit(Event{Kind: EventAccepted, ID: a.ID, Version: a.Patchnet.Version, Published: publishedAt(a), Received: received,
			Signers: subjects(acc.Supernodes), Detail: fmt.Sprintf("%d supernode co-signatures", len(acc.Supernodes))})
		n.cancelOlder(a)
		raw, err := va.marshal()
		if err == nil {
			_, err = n.agent.life.accept(acc, raw)
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
			Signers: eq.Alert.Second.Signers, Detail: eq.Alert.String(), Reason: reasonOf(err)})
		n.cancelVersion(eq.Alert.ID, eq.Alert.Version)
		n.notify(context.Background(), updates.Notification{Alert: &eq.Alert})
	case errors.Is(err, trust.ErrInsufficientSigners):
		n.emit(Event{Kind: EventPending, ID: a.ID, Version: a.Patchnet.Version, Signers: subjects(acc.Supernodes), Received: received,
			Detail: pendingText(acc, n.policy, err), Reason: pendingReason(acc, n.policy)})
	default:
		n.emit(Event{Kind: EventRejected, ID: a.ID, Version: a.Patchnet.Version, Detail: err.Error(), Reason: reasonOf(err)})
	}
}

// acceptHolding runs the acceptor on va and, once it is accepted, holds
// aside the co-signed payloads buffered for its id and version (conflict.go),
// under conflicts.gate.
func (n *Node) acceptHolding(va *verifiedAnnouncement) error {
	n.conflicts.gate.Lock()
	defer n.conflicts.gate.Unlock()
	if err := n.agent.acceptor.AcceptVerified(va.Accepted); err != nil {
		return err
	}
	k := keyOf(va.Envelope)
	n.conflicts.release(k) // accepted: no longer contested
	n.quarantineRivals(va.Accepted, k)
	return nil
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
		case acc := <-n.agent.queue:
			// Each announcement waits for its own window or rollout slot;
			// installs themselves run one at a time (installMu).
			n.wg.Go(func() { n.handleAccepted(ctx, acc) })
		}
	}
}

// handleAccepted installs an accepted announcement, retrying failed fetches
// with backoff (MaxFetchAttempts). Each step is recorded in its lifecycle
// record; one left unfinished (gave up, or the node stopped) is taken up
// again at start or by the next copy.
func (n *Node) handleAccepted(ctx context.Context, acc *updates.Accepted) {
	a := acc.Announcement
	defer n.agent.life.unclaim(a.ID, a.Patchnet.Version)
	ctx, done := n.agent.handlers.start(ctx, a.ID, a.Patchnet.Version)
	defer done()
	for attempt := 1; ; attempt++ {
		err := n.agent.flow.Run(ctx, acc)
		var retry *RetryableError
		switch {
		case ctx.Err() != nil && context.Cause(ctx) != ctx.Err():
			n.cancelled(acc, context.Cause(ctx)) // superseded, withdrawn or quarantined while waiting
			return
		case ctx.Err() != nil:
			return
		case !errors.As(err, &retry):
			return // a final outcome, recorded by onStep
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
	n.stepMu.Lock()
	defer n.stepMu.Unlock()
	if err := n.agent.life.move(a.ID, a.Patchnet.Version, state, detail, nil); err != nil {
		n.log.Warn("recording update state", "id", a.ID, "err", err)
	}
	n.emit(Event{Kind: EventFailed, ID: a.ID, Version: a.Patchnet.Version, Detail: detail, State: state})
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

// newWorkflow is the agent's install workflow with the daemon's hooks:
// steps recorded in the lifecycle record and emitted as events, waits
// slept through, artifacts fetched from peers (vendor URLs as fallback),
// notify mode sent through [notify].
func (n *Node) newWorkflow() *Workflow {
	return &Workflow{Verifier: n.verifier, Policy: n.policy, Seen: n.agent.seen, Installs: n.agent.installs, Respond: n.agent.respond,
		Sysroot: n.cfg.Sysroot, Prefixes: n.cfg.Install.Prefixes, Hooks: WorkflowHooks{
			Report: n.onStep, InstallTime: n.installTime, Wait: sleepUntil, Fetch: n.fetchArtifact, Notify: n.notify,
		}}
}

// onStep records a workflow step in the update's lifecycle record and, for
// the steps people follow, emits its event.
func (n *Node) onStep(acc *updates.Accepted, s Step) {
	a := acc.Announcement
	switch s.Kind {
	case EventMatched, EventDecided:
	case EventFetching:
		n.move(a, StateFetching, s.Detail, func(r *UpdateRecord) { r.Attempts++ })
	case EventInstalling:
		n.move(a, StateInstalling, s.Detail, nil)
	case EventScheduled:
		n.step(a, s.Kind, s.Detail, func(r *UpdateRecord) { r.NotBefore = s.At })
	default:
		n.step(a, s.Kind, s.Detail, nil)
		n.reportOutcome(acc, s) // opt-in ([report]): nothing leaves otherwise
	}
}

// move records a transition that emits no event.
func (n *Node) move(a *updates.Announcement, state State, detail string, edit func(*UpdateRecord)) {
	if err := n.agent.life.move(a.ID, a.Patchnet.Version, state, detail, edit); err != nil {
		n.log.Warn("recording update state", "id", a.ID, "version", a.Patchnet.Version, "state", state, "err", err)
	}
}

// sleepUntil waits until at, or until ctx ends.
func sleepUntil(ctx context.Context, at time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(at)):
		return nil
	}
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
	if spread := n.agent.respond.NextWindow(base.Add(delay)); spread.After(at) {
		at = spread
	}
	return at
}

// fetchArtifact fetches acc's artifact from peers (its co-signing
// supernodes first, n.want; vendor URLs as fallback) into STATE/incoming;
// the file is removed when the workflow is done with it.
func (n *Node) fetchArtifact(ctx context.Context, acc *updates.Accepted) (string, func(), error) {
	a := acc.Announcement
	art := a.Patchnet.Artifact
	dir := filepath.Join(n.cfg.State, "incoming")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	want, err := n.want(acc)
	if err != nil {
		return "", nil, err
	}
	n.noteHeld(a) // before its blocks arrive: a prune meanwhile keeps them
	path := filepath.Join(dir, art.SHA256.String())
	start := time.Now()
	res, err := n.fetchFile(ctx, want, path)
	if err != nil {
		return "", nil, err
	}
	n.emit(Event{Kind: EventFetched, ID: a.ID, Version: a.Patchnet.Version, Source: res.source, From: res.from, Detail: res.detail,
		SourceBytes: res.bytes, Took: time.Since(start)})
	return path, func() { os.Remove(path) }, nil
}

// fetchFile fetches want into path; a failed fetch leaves no file.
func (n *Node) fetchFile(ctx context.Context, want content.Want, path string) (fetched, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fetched{}, fmt.Errorf("creating %s: %w", path, err)
	}
	fctx, cancel := context.WithTimeout(ctx, time.Duration(n.cfg.FetchTimeout))
	defer cancel()
	res, err := n.fetch(fctx, want, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fetched{}, err
	}
	return res, nil
}

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
		n.emit(Event{Kind: EventAccepted, ID: acc.Announcement.ID, Version: acc.Announcement.Patchnet.Version,
			Signers: subjects(acc.Supernodes), Detail: fmt.Sprintf("%d supernode co-signatures", len(acc.Supernodes))})
		select {
		case n.installQ <- acc:
		default:
			n.emit(Event{Kind: EventFailed, ID: acc.Announcement.ID, Version: acc.Announcement.Patchnet.Version,
				Detail: "install queue full: dropped"})
		}
	case errors.Is(err, updates.ErrDuplicate):
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

// handleAccepted matches an accepted announcement against this host,
// decides per the respond policy, fetches and installs.
func (n *Node) handleAccepted(ctx context.Context, acc *updates.Accepted) {
	a := acc.Announcement
	ev := func(kind EventKind, format string, args ...any) {
		n.emit(Event{Kind: kind, ID: a.ID, Version: a.Patchnet.Version, Detail: fmt.Sprintf(format, args...)})
	}
	ok, why, err := n.shouldInstall(ctx, a)
	if err != nil || !ok {
		if err != nil {
			why = err.Error()
		}
		ev(EventNotApplied, "%s", why)
		return
	}
	n.installMu.Lock()
	defer n.installMu.Unlock()
	if prior := n.installs.InstalledBy(a.ID, a.Patchnet.Version); prior != nil {
		ev(EventNotApplied, "already installed by transaction %s", prior.ID)
		return
	}
	tx, err := n.fetchAndInstall(ctx, a)
	if err != nil {
		ev(EventFailed, "%v", err)
		return
	}
	ev(EventInstalled, "installed %s (transaction %s)", tx.Goal, tx.ID)
}

// shouldInstall matches a against the sysroot's inventory and applies the
// respond policy, waiting for a maintenance window or rollout slot.
func (n *Node) shouldInstall(ctx context.Context, a *updates.Announcement) (bool, string, error) {
	inv, err := sysinfo.Collect(ctx, sysinfo.Options{Root: n.cfg.Sysroot})
	if err != nil {
		return false, "", fmt.Errorf("collecting the inventory of %s: %w", n.cfg.Sysroot, err)
	}
	res := updates.Match(updates.HostFromInventory(inv), a)
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
		return nil, err
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

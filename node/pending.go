package node

import (
	"errors"
	"fmt"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// queueInstall hands acc to the installer unless its id is being handled
// at this version or a higher one. A full queue drops it with an event; its
// lifecycle record stays unfinished, so the next copy or a restart queues
// it again.
func (n *Node) queueInstall(acc *updates.Accepted) {
	a := acc.Announcement
	if !n.agent.life.claim(a.ID, a.Patchnet.Version) {
		return
	}
	select {
	case n.agent.queue <- acc:
	default:
		n.agent.life.unclaim(a.ID, a.Patchnet.Version)
		n.emit(Event{Kind: EventFailed, ID: a.ID, Version: a.Patchnet.Version,
			Detail: "install queue full: kept pending, queued again by the next copy or a restart"})
	}
}

// retryDuplicate queues again an accepted update that was not installed
// (queue full, fetches failed, or lost by a node that kept no pending
// record) when another copy of it arrives. Only the highest version
// accepted for its id is ever queued: a lower one was superseded.
func (n *Node) retryDuplicate(va *verifiedAnnouncement) {
	acc := va.Accepted
	id, v := acc.Announcement.ID, acc.Announcement.Patchnet.Version
	if high, ok, err := n.agent.seen.Highest(id); err != nil || !ok || high != v {
		return
	}
	if rec, ok, err := n.agent.life.get(id, v); err != nil || (ok && rec.State.Final()) || n.agent.installs.InstalledBy(id, v) != nil {
		return
	}
	if err := updates.QuorumError(acc, n.policy); err != nil {
		return // this copy alone is short of the quorum (the merged one was not)
	}
	raw, err := va.marshal()
	if err == nil {
		_, err = n.agent.life.accept(acc, raw) // a node that lost or never made the record
	}
	if err != nil {
		n.log.Warn("recording the accepted update", "id", id, "err", err)
	}
	n.queueInstall(acc)
}

// verifyStored verifies a pending install's envelope read back from the
// database: bytes from disk are verified like bytes from the wire, against
// the CRLs and clock of now, and must be the payload this node accepted
// for its id and version, with its quorum.
func (n *Node) verifyStored(id string, raw []byte) (*updates.Accepted, error) {
	acc, err := updates.VerifyAnnouncement(n.verifier, raw, n.zone, n.cfg.Publishers)
	if err != nil {
		return nil, err
	}
	a := acc.Announcement
	rec, ok, err := n.agent.seen.Get(a.ID, a.Patchnet.Version)
	switch {
	case err != nil:
		return nil, err
	case a.ID != id:
		return nil, fmt.Errorf("recorded under id %s", id)
	case !ok || rec.Digest != acc.Digest:
		return nil, fmt.Errorf("re-accepting %s version %d: not the payload this node accepted", a.ID, a.Patchnet.Version)
	}
	return acc, updates.QuorumError(acc, n.policy)
}

// requeuePending takes up every update left unfinished before a restart:
// the highest unfinished version of each id is verified again (a CRL or
// expiry may have voided it since) and queued; lower ones were superseded.
func (n *Node) requeuePending() {
	recs, err := n.agent.life.unfinished()
	if err != nil {
		n.log.Warn("reading unfinished updates", "err", err)
		return
	}
	for i, rec := range recs {
		if i+1 < len(recs) && recs[i+1].ID == rec.ID {
			n.stepRecord(rec, EventSuperseded, fmt.Sprintf("superseded by version %d, accepted before the restart", recs[i+1].Version))
			continue
		}
		acc, err := n.verifyStored(rec.ID, rec.Envelope)
		switch {
		case errors.Is(err, trust.ErrInsufficientSigners):
			// Kept: no current CRL yet, say; the next copy or restart retries.
			n.emit(Event{Kind: EventPending, ID: rec.ID, Version: rec.Version, Detail: fmt.Sprintf("unfinished update kept, not queued: %v", err)})
		case err != nil:
			n.stepRecord(rec, EventRefusedInstall, fmt.Sprintf("unfinished update dropped at start: %v", err))
		default:
			n.queueInstall(acc)
		}
	}
}

// stepRecord is step for an update known only by its record.
func (n *Node) stepRecord(rec UpdateRecord, kind EventKind, detail string) {
	n.step(&updates.Announcement{ID: rec.ID, Patchnet: updates.Patchnet{Version: rec.Version}}, kind, detail, nil)
}

package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
)

// EventCRL: a newer CRL from a zone CA or root was verified and applied.
const EventCRL EventKind = "crl"

// isCRL tells a CRL (DER: an ASN.1 SEQUENCE) from an envelope (JSON) on the
// announce topic, which carries both.
func isCRL(data []byte) bool { return len(data) > 0 && data[0] == 0x30 }

// validateCRL verifies a CRL that arrived by gossip or catch-up and applies
// it when it is newer than the one held: a forged or malformed CRL →
// Reject; from a CA this node does not know yet, or not newer → Ignore.
func (n *Node) validateCRL(data []byte) overlay.Verdict {
	der, err := trust.DecodeCRL(data)
	if err != nil {
		return overlay.Reject
	}
	changed, err := n.verifier.AddCRL(der)
	switch {
	case errors.Is(err, trust.ErrUnknownIssuer):
		return overlay.Ignore
	case err != nil:
		return overlay.Reject
	case !changed:
		return overlay.Ignore
	}
	return overlay.Accept
}

// onCRL keeps a newly applied CRL for peers catching up and re-verifies
// connected peers against it.
func (n *Node) onCRL(m overlay.Message) {
	if _, err := n.ov.Keep(overlay.KindCRL, m.Data); err != nil {
		n.log.Warn("keeping CRL for catch-up", "err", err)
	}
	failed := n.ov.Reauthenticate()
	detail := "applied a newer CRL"
	for _, st := range n.verifier.CRLStatuses() {
		detail += fmt.Sprintf("; %s #%s: %d revoked", st.Issuer, st.Number, st.Revoked)
	}
	if failed > 0 {
		detail += fmt.Sprintf("; %d connected peers no longer verify", failed)
	}
	n.emit(Event{Kind: EventCRL, Detail: detail})
}

// PublishCRL sends a CRL (PEM or DER) from the zone CA or root to the zone,
// after applying it here. Any node may relay a CRL: its CA's signature,
// not the sender, makes it trusted.
func (n *Node) PublishCRL(ctx context.Context, crl []byte) error {
	der, err := trust.DecodeCRL(crl)
	if err != nil {
		return fmt.Errorf("publishing CRL: %w", err)
	}
	if err := n.ov.Publish(ctx, n.ov.AnnounceTopic(), der); err != nil {
		return fmt.Errorf("publishing CRL: %w", err)
	}
	return nil
}

// replayCRLs applies every CRL kept in the catch-up store. They were
// verified when they arrived by gossip, but the verifier starts with only
// the configured CRL files and catch-up skips items already stored, so
// without this a revoked certificate would count again after a restart.
// A kept CRL that no longer applies (older than one held, unknown issuer)
// is logged and skipped: it never stops the node.
func (n *Node) replayCRLs(store overlay.ItemStore) error {
	var cursor uint64
	applied := 0
	for {
		items, err := store.Since(cursor, CRLReplayBatch, CRLReplayBatchBytes)
		if err != nil {
			return fmt.Errorf("replaying kept CRLs: %w", err)
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			cursor = it.Seq
			if it.Kind != overlay.KindCRL {
				continue
			}
			der, err := trust.DecodeCRL(it.Data)
			changed := false
			if err == nil {
				changed, err = n.verifier.AddCRL(der)
			}
			if err != nil {
				n.log.Warn("replaying kept CRL", "seq", it.Seq, "err", err)
			}
			if changed {
				applied++
			}
		}
	}
	if applied > 0 {
		n.emit(Event{Kind: EventCRL, Detail: fmt.Sprintf("applied %d kept CRL(s) at start", applied)})
	}
	return nil
}

package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
)

// EventCRL: a newer CRL from a zone CA or root was verified and applied.
const EventCRL EventKind = "crl"

// verifiedCRL is what the validator makes of a CRL on the CRL topic: one
// verified against its issuer and applied, newer than the one held.
type verifiedCRL struct {
	DER []byte
}

// validateCRL verifies a CRL that arrived by gossip or catch-up and applies
// it when it is newer than the one held: a forged or malformed CRL →
// Reject; from a CA this node does not know yet, or not newer → Ignore.
// This node's own publish of a CRL it holds already (loaded from a file)
// goes out: any node may relay a CRL, its CA's signature makes it trusted.
func (n *Node) validateCRL(from peer.ID, data []byte) (overlay.Verdict, any) {
	der, err := trust.DecodeCRL(data)
	if err != nil {
		return overlay.Reject, nil
	}
	changed, err := n.verifier.AddCRL(der)
	switch {
	case errors.Is(err, trust.ErrUnknownIssuer):
		return overlay.Ignore, nil
	case err != nil:
		return overlay.Reject, nil
	case !changed && (from == "" || from != n.ID() || !n.holdsCRL(der)):
		return overlay.Ignore, nil
	}
	return overlay.Accept, &verifiedCRL{DER: der}
}

// holdsCRL reports whether der is the newest CRL held from its issuer.
func (n *Node) holdsCRL(der []byte) bool {
	return slices.ContainsFunc(n.verifier.CRLs(), func(h []byte) bool { return bytes.Equal(h, der) })
}

// keepCRLs keeps every CRL the verifier holds for peers catching up: a
// node that starts without CRL files gets them from its first neighbour,
// and until then counts no signature (Config.RequireCRL).
func (n *Node) keepCRLs() {
	for _, der := range n.verifier.CRLs() {
		if _, err := n.ov.Keep(overlay.KindCRL, der); err != nil {
			n.log.Warn("keeping CRL for catch-up", "err", err)
		}
	}
}

// onCRL keeps a newly applied CRL for peers catching up, re-verifies
// connected peers against it and, on agents, runs acceptance again on every
// buffered announcement: one that waited for a CRL (no signer counts
// without a current one) may now pass, one co-signed by a key revoked
// since now fails.
func (n *Node) onCRL(m overlay.Message) {
	v, ok := m.Verified.(*verifiedCRL)
	if !ok {
		return
	}
	if _, err := n.ov.Keep(overlay.KindCRL, v.DER); err != nil {
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
	if n.IsAgent() {
		for _, va := range n.merge.all() {
			n.accept(n.refreshed(va), time.Time{})
		}
	}
}

// PublishCRL sends a CRL (PEM or DER) from the zone CA or root to the zone,
// after applying it here. Any node may relay a CRL: its CA's signature,
// not the sender, makes it trusted.
func (n *Node) PublishCRL(ctx context.Context, crl []byte) error {
	der, err := trust.DecodeCRL(crl)
	if err != nil {
		return fmt.Errorf("publishing CRL: %w", err)
	}
	if err := n.ov.Publish(ctx, n.ov.CRLTopic(), der); err != nil {
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
		n.emit(Event{Kind: EventCRL, Reason: reasonReplayed, Detail: fmt.Sprintf("applied %d kept CRL(s) at start", applied)})
	}
	return nil
}

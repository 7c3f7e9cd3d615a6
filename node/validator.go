package node

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// ValidateMessage decides every gossip message and catch-up item on the
// announce and supernodes topics: the envelope and its signers must verify
// (trust.VerifyEnvelope via updates.VerifyAnnouncement), the payload must be
// an announcement signed by the zone's publishers. Forged or malformed →
// Reject (the relaying peer's score falls); expired, signed under a CRL we
// hold stale, or older than a version already accepted → Ignore.
// A forged signature beside valid ones is Rejected too; signatures that do
// not count for other reasons (revoked, expired signer) are stripped before
// merging (see verifiedSignatures). CRLs (DER) are verified against their issuer and applied (see crl.go).
// Envelopes with fewer than k co-signatures are accepted: they are how
// co-signatures travel before they are merged.
func (n *Node) ValidateMessage(_ context.Context, _ string, _ peer.ID, data []byte) overlay.Verdict {
	if isCRL(data) {
		return n.validateCRL(data)
	}
	acc, err := updates.VerifyAnnouncement(n.verifier, data, n.cfg.Zone, n.cfg.Publishers)
	if err != nil {
		return verdictOf(err)
	}
	for _, r := range acc.Envelope.Rejected {
		if errors.Is(r.Err, trust.ErrBadSignature) || errors.Is(r.Err, trust.ErrMalformed) {
			return overlay.Reject // a forged signature beside valid ones: tampering
		}
	}
	if n.stale(acc.Announcement) {
		return overlay.Ignore
	}
	return overlay.Accept
}

// verdictOf maps a verification failure to a verdict.
func verdictOf(err error) overlay.Verdict {
	switch {
	case errors.Is(err, trust.ErrExpired), errors.Is(err, trust.ErrStaleCRL),
		errors.Is(err, trust.ErrUnknownSigner), errors.Is(err, trust.ErrNotYetValid):
		// Stale, or not checkable here yet: not the relaying peer's fault.
		return overlay.Ignore
	default:
		return overlay.Reject
	}
}

// stale reports whether a is older than what this node already accepted
// (agents) or co-signed (supernodes) for its id.
func (n *Node) stale(a *updates.Announcement) bool {
	if high, ok, err := n.seen.Highest(a.ID); err == nil && ok && a.Patchnet.Version < high {
		return true
	}
	if rec, ok, err := n.cosigned.get(a.ID); err == nil && ok && a.Patchnet.Version < rec.Version {
		return true
	}
	return false
}

// verifiedSignatures parses raw and keeps only the signatures that verified:
// the merge buffer dedupes by key id, so an unverified signature naming a
// supernode's key id must never take that supernode's place. It returns the
// reasons the other signatures did not count.
func (n *Node) verifiedSignatures(raw []byte) (*trust.Envelope, []trust.SignatureError, error) {
	ve, err := n.verifier.VerifyEnvelope(raw)
	if err != nil {
		return nil, nil, err
	}
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		return nil, nil, err
	}
	if len(ve.Rejected) == 0 {
		return env, nil, nil
	}
	bad := map[int]bool{}
	for _, r := range ve.Rejected {
		bad[r.Index] = true
	}
	kept := env.Signatures[:0]
	for i, s := range env.Signatures {
		if !bad[i] {
			kept = append(kept, s)
		}
	}
	env.Signatures = kept
	return env, ve.Rejected, nil
}

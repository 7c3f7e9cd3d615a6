package node

import (
	"context"
	"errors"
	"fmt"

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

// verifiedSignatures parses raw and keeps one signature per verified
// signer that counts here (a publisher or supernode of this zone), its KeyID
// rewritten to the canonical fingerprint, preferring a copy that carries its
// certificates. The merge buffer dedupes by signer: an unverified signature
// naming a supernode must never take that supernode's place, and copies of
// one genuine signature under other spellings of its key id ("AB…", "ab:…")
// must never fill the envelope up to trust.MaxSignatures. It returns the
// reasons the other signatures did not count.
func (n *Node) verifiedSignatures(raw []byte) (*trust.Envelope, []trust.SignatureError, error) {
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		return nil, nil, err
	}
	out := trust.NewEnvelope(env.PayloadType, env.Payload)
	at := map[trust.Fingerprint]int{} // signer → index in out.Signatures
	var rejected []trust.SignatureError
	for i, s := range env.Signatures {
		id, err := n.signerOf(env, s)
		if err != nil {
			rejected = append(rejected, trust.SignatureError{Index: i, KeyID: s.KeyID, Err: err})
			continue
		}
		s.KeyID = id.Fingerprint.String()
		if j, ok := at[id.Fingerprint]; ok {
			if len(out.Signatures[j].Certificates) == 0 && len(s.Certificates) > 0 {
				out.Signatures[j] = s
			}
			continue
		}
		at[id.Fingerprint] = len(out.Signatures)
		out.Signatures = append(out.Signatures, s)
	}
	if len(out.Signatures) == 0 {
		return nil, rejected, fmt.Errorf("verifying envelope: none of its %d signatures is by a publisher or supernode of zone %q: %w",
			len(env.Signatures), n.cfg.Zone, trust.ErrUntrusted)
	}
	return out, rejected, nil
}

// signerOf verifies one signature of env alone and returns its signer, who
// must be a publisher or supernode of this zone to count in a merge.
func (n *Node) signerOf(env *trust.Envelope, s trust.Signature) (trust.Identity, error) {
	one := trust.NewEnvelope(env.PayloadType, env.Payload)
	one.Signatures = []trust.Signature{s}
	ve, err := n.verifier.VerifyParsedEnvelope(one)
	if err != nil {
		var se trust.SignatureError
		if errors.As(err, &se) {
			return trust.Identity{}, se.Err
		}
		return trust.Identity{}, err
	}
	id := ve.Signers[0]
	if id.Check(trust.RolePublisher, n.cfg.Zone) != nil && id.Check(trust.RoleSupernode, n.cfg.Zone) != nil {
		return trust.Identity{}, fmt.Errorf("%w: %s is neither a publisher nor a supernode of zone %q", trust.ErrWrongRole, id, n.cfg.Zone)
	}
	return id, nil
}

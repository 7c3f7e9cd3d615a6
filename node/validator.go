package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// verifiedAnnouncement is what the validator makes of an announcement: the
// only form in which the rest of the node sees one. Nothing after the
// validator parses or verifies the bytes again.
type verifiedAnnouncement struct {
	// Accepted is the announcement, decoded and checked once, with every
	// verified signer merged so far for its payload. It has not passed
	// rollback, quorum or equivocation: that is the agent's acceptance.
	Accepted *updates.Accepted
	// Envelope carries the merged signatures, key ids canonical: what the
	// node relays and keeps for peers catching up.
	Envelope *trust.Envelope

	encoded struct {
		once sync.Once
		raw  []byte
		err  error
	}
}

// marshal is Envelope's bytes, encoded once for every store that keeps
// them (the catch-up store, the lifecycle record).
func (va *verifiedAnnouncement) marshal() ([]byte, error) {
	va.encoded.once.Do(func() { va.encoded.raw, va.encoded.err = va.Envelope.Marshal() })
	return va.encoded.raw, va.encoded.err
}

// ValidateMessage decides every gossip message and catch-up item and, on
// Accept, returns the verified value the node acts on (overlay.Message's
// Verified): a *verifiedAnnouncement on the announce and supernodes topics,
// a *verifiedCRL on the CRL topic. Forged or malformed → Reject (the
// relaying peer's score falls); expired, not checkable yet, older than a
// version already accepted, or a copy that adds no signature → Ignore; a
// peer that keeps sending copies that add nothing → Reject.
func (n *Node) ValidateMessage(ctx context.Context, topic string, from peer.ID, data []byte) (overlay.Verdict, any) {
	switch topic {
	case n.topics.crl:
		return n.validateCRL(from, data)
	case n.topics.heartbeat:
		return n.validateHeartbeat(data)
	case n.topics.announce, n.topics.supernodes:
		return n.validateAnnouncement(ctx, topic, from, data)
	}
	return overlay.Reject, nil
}

// validateAnnouncement verifies only the signatures that would add to what
// the merge buffer holds for the payload, checks the announcement once per
// payload, and merges.
func (n *Node) validateAnnouncement(ctx context.Context, topic string, from peer.ID, data []byte) (overlay.Verdict, any) {
	env, err := trust.ParseEnvelope(data)
	if err != nil || env.PayloadType != updates.PayloadType {
		return overlay.Reject, nil
	}
	k := keyOf(env)
	fresh := slices.DeleteFunc(slices.Clone(env.Signatures), func(s trust.Signature) bool {
		return !n.merge.adds(k, s) || !n.conflicts.adds(k, s)
	})
	if len(fresh) == 0 {
		return n.redundant(ctx, from, k)
	}
	verified, dropped, verdict := n.verifySignatures(env, fresh)
	if verdict != overlay.Accept {
		if len(dropped) > 0 {
			n.noteInvalidProposal(topic, env, dropped[0]) // a publisher of another zone, revoked, …
		}
		if verdict == overlay.Ignore && n.merge.checked(k) != nil {
			n.reportDropped(n.merge.checked(k).Announcement, dropped) // e.g. a revoked co-signer of a payload held
		}
		return verdict, nil
	}
	checked := n.merge.checked(k)
	if checked == nil {
		checked = n.conflicts.checked(k)
	}
	if checked == nil {
		if checked, err = n.checkAnnouncement(env, verified); err != nil {
			n.noteInvalidProposal(topic, env, err)
			return verdictOf(err), nil
		}
	} else if err := updates.CheckValidity(checked.Announcement, n.verifier.Now()); err != nil {
		return verdictOf(err), nil // checked once, but time has passed since: expired now
	}
	if n.stale(checked.Announcement) {
		return overlay.Ignore, nil
	}
	if n.agent != nil {
		n.conflicts.gate.Lock()
		defer n.conflicts.gate.Unlock()
		if verdict, held := n.screen(k, checked, verified); held {
			return verdict, nil
		}
	}
	v, added := n.merge.add(k, checked, verified)
	if added == 0 {
		return n.redundant(ctx, from, k) // another copy won the race
	}
	n.reportDropped(checked.Announcement, dropped)
	return overlay.Accept, v
}

// reportDropped says which signatures of a message about a did not count.
func (n *Node) reportDropped(a *updates.Announcement, dropped []error) {
	if len(dropped) == 0 {
		return
	}
	n.emit(Event{Kind: EventRejected, ID: a.ID, Version: a.Patchnet.Version, Reason: reasonOf(dropped[0]),
		Detail: fmt.Sprintf("dropped %d signature(s) that do not count: %v", len(dropped), errors.Join(dropped...))})
}

// verifySignatures verifies each of sigs on its own and keeps those by a
// publisher or supernode of this zone. A forged or malformed signature
// rejects the whole message (tampering); signatures that do not count for
// other reasons (revoked, expired, another zone's, a supernode this agent
// caught equivocating) are left out, and the message is Ignored if none
// counts.
func (n *Node) verifySignatures(env *trust.Envelope, sigs []trust.Signature) (out []signed, dropped []error, _ overlay.Verdict) {
	for _, s := range sigs {
		id, err := n.signerOf(env, s)
		if err == nil && n.conflicts.isDistrusted(id.Fingerprint) {
			err = fmt.Errorf("%w: %s co-signed two payloads of one update version: its signatures no longer count on this node",
				trust.ErrEquivocation, id)
		}
		switch {
		case errors.Is(err, trust.ErrBadSignature), errors.Is(err, trust.ErrMalformed):
			return nil, nil, overlay.Reject
		case err != nil:
			dropped = append(dropped, err)
		case !slices.ContainsFunc(out, func(o signed) bool { return o.id.Fingerprint == id.Fingerprint }):
			out = append(out, signed{sig: s, id: id})
		}
	}
	if len(out) == 0 {
		return nil, dropped, verdictOf(dropped[0])
	}
	return out, dropped, overlay.Accept
}

// checkAnnouncement checks a payload the first time it is seen: the
// publisher's signature among the verified ones, decoding and validation,
// validity at this node's clock.
func (n *Node) checkAnnouncement(env *trust.Envelope, verified []signed) (*updates.Accepted, error) {
	ve := &trust.VerifiedEnvelope{PayloadType: env.PayloadType, Payload: env.Payload}
	for _, s := range verified {
		ve.Signers = append(ve.Signers, s.id)
	}
	return updates.CheckAnnouncement(n.verifier.Now(), ve, n.zone, n.cfg.Publishers)
}

// verdictOf maps a verification failure to a verdict.
func verdictOf(err error) overlay.Verdict {
	switch {
	case err == nil:
		return overlay.Accept
	case errors.Is(err, trust.ErrExpired), errors.Is(err, trust.ErrStaleCRL), errors.Is(err, trust.ErrRevoked),
		errors.Is(err, trust.ErrUnknownSigner), errors.Is(err, trust.ErrNotYetValid):
		// Stale, or not checkable here yet: not the relaying peer's fault.
		return overlay.Ignore
	case errors.Is(err, trust.ErrEquivocation):
		// A signer this node caught equivocating: peers that have not
		// caught it relay its signatures in good faith.
		return overlay.Ignore
	default:
		return overlay.Reject
	}
}

// stale reports whether a is older than what this node already accepted
// (agents: the seen versions) or co-signed (supernodes: their records);
// a node of neither role relays it.
func (n *Node) stale(a *updates.Announcement) bool {
	if n.agent != nil {
		if high, ok, err := n.agent.seen.Highest(a.ID); err == nil && ok && a.Patchnet.Version < high {
			return true
		}
	}
	if n.cosigner != nil {
		if rec, ok, err := n.cosigner.records.get(a.ID); err == nil && ok && a.Patchnet.Version < rec.Version {
			return true
		}
	}
	return false
}

// redundant decides a copy that adds no signature to payload k: Ignore, so
// an honest relay is not blamed for gossip's own duplicates, until the peer
// that sent it has sent more than RedundantBurst of them at above
// RedundantRate (re-encodings of one envelope, endlessly): then Reject, so
// its score falls and gossipsub graylists it. Catch-up items are never held
// against their server. This node's own publish of what it holds already
// (a publisher sending its proposal again) goes out.
func (n *Node) redundant(ctx context.Context, from peer.ID, k payloadKey) (overlay.Verdict, any) {
	if from != "" && from == n.ID() {
		if v := n.merge.view(k); v != nil {
			return overlay.Accept, v
		}
	}
	if from == "" || overlay.IsCatchUp(ctx) || n.redundancy.allow(from) {
		return overlay.Ignore, nil
	}
	n.emit(Event{Kind: EventRejected, Reason: reasonRedundant,
		Detail: fmt.Sprintf("peer %s keeps sending copies that add nothing: rejected", from)})
	return overlay.Reject, nil
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
	if !id.Holds(trust.RolePublisher, n.zone) && !id.Holds(trust.RoleSupernode, n.zone) {
		return trust.Identity{}, fmt.Errorf("%w: %s is neither a publisher nor a supernode of zone %s", trust.ErrWrongRole, id, n.zone)
	}
	return id, nil
}

// messageID names a gossip message by what it carries, not how it is
// encoded: its topic, its payload and the set of its signatures, each as
// its key id in canonical form, its signature bytes and its certificates.
// Re-encodings of one envelope (whitespace, field order, base64 variants,
// key id spellings, a signature repeated) are one message, which gossipsub
// drops as a duplicate before any validation. It verifies nothing, and it
// never lets a forged copy take an honest message's ID: a copy whose
// signature or certificate bytes differ is another message (and the
// validator Ignores it cheaply, then Rejects its sender if it keeps on).
func messageID(topic string, data []byte) [32]byte {
	sum := messageIDs.sum(topic, data)
	if id, ok := messageIDs.get(sum); ok {
		return id
	}
	id := deriveMessageID(topic, data)
	messageIDs.put(sum, id)
	return id
}

// messageIDs is the process's memo of message IDs (idMemo).
var messageIDs idMemo

// idMemo remembers the last messageIDMemoSize message IDs by a hash of
// the topic and bytes they were derived from. Gossip brings each message
// about six times byte for byte (a copy from each mesh peer), and
// deriving its ID parses the envelope and decodes every certificate in
// it, several times what hashing the bytes costs. An ID is a function of
// those bytes, so a remembered one is what deriving would give: nothing
// is trusted on its strength, and nodes sharing a process (the testnet's
// sim) may share it.
type idMemo struct {
	mu   sync.Mutex
	next int
	ring [messageIDMemoSize]struct{ sum, id [32]byte }
}

// sum is the memo's key for data on topic; the topic's length comes
// first, so no split of the same bytes into another topic and data (a
// topic from the wire may hold any byte) finds another's entry.
func (*idMemo) sum(topic string, data []byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(topic)))
	h.Write(n[:])
	h.Write([]byte(topic))
	h.Write(data)
	return [32]byte(h.Sum(nil))
}

// get is the ID remembered for sum, if any.
func (m *idMemo) get(sum [32]byte) ([32]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.ring {
		if e.sum == sum {
			return e.id, true
		}
	}
	return [32]byte{}, false
}

// put remembers id for sum, forgetting the oldest.
func (m *idMemo) put(sum, id [32]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ring[m.next].sum, m.ring[m.next].id = sum, id
	m.next = (m.next + 1) % len(m.ring)
}

// deriveMessageID is messageID without the memo.
func deriveMessageID(topic string, data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(topic))
	h.Write([]byte{0})
	env, err := trust.ParseEnvelope(data)
	if err != nil {
		h.Write(data)
		return [32]byte(h.Sum(nil))
	}
	k := keyOf(env)
	h.Write(k[:])
	sigs := make([][32]byte, 0, len(env.Signatures))
	for _, s := range env.Signatures {
		sigs = append(sigs, signatureID(s))
	}
	slices.SortFunc(sigs, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range slices.Compact(sigs) {
		h.Write(id[:])
	}
	return [32]byte(h.Sum(nil))
}

// signatureID hashes one signature's meaning: canonical key id, signature
// bytes, certificates.
func signatureID(s trust.Signature) [32]byte {
	h := sha256.New()
	id := s.KeyID
	if fp, err := trust.ParseFingerprint(s.KeyID); err == nil {
		id = fp.String()
	}
	for _, part := range append([][]byte{[]byte(id), s.Sig}, s.Certificates...) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return [32]byte(h.Sum(nil))
}

package node

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// payloadKey identifies one payload (type and bytes) whatever signed it.
type payloadKey [32]byte

func keyOf(env *trust.Envelope) payloadKey {
	return sha256.Sum256(trust.PAE(env.PayloadType, env.Payload))
}

// mergeBuffer accumulates the verified signatures of envelopes carrying the
// same payload: each supernode publishes the publisher's envelope plus its
// own co-signature, and a node needs them together to count k. It holds at
// most MaxPendingPayloads payloads, each for at most MergeTTL; the oldest is
// dropped first. Only the validator adds to it, and only signatures it
// verified, one per signer (by certificate fingerprint, whatever the key
// id's spelling), each with the identity its chain verified to: nothing
// after the validator verifies a signature again.
type mergeBuffer struct {
	mu      sync.Mutex
	entries map[payloadKey]*mergeEntry
	order   []payloadKey // oldest first
	now     func() time.Time
	zone    trust.Zone // whose publishers and supernodes count
	// distrusted reports a signer this node caught equivocating
	// (conflict.go): its signatures, merged before it was caught, are
	// left out of every view. Nil: nobody is.
	distrusted func(trust.Fingerprint) bool
}

// mergeEntry is one payload: its announcement, checked once when the entry
// was made, and every verified signature seen for it.
type mergeEntry struct {
	checked *updates.Accepted
	sigs    []trust.Signature // canonical key ids
	ids     []trust.Identity  // the verified signer of each of sigs
	keys    map[trust.Fingerprint]int
	added   time.Time
}

// signed is one verified signature and the identity it verified to.
type signed struct {
	sig trust.Signature
	id  trust.Identity
}

func newMergeBuffer(now func() time.Time, zone trust.Zone) *mergeBuffer {
	return &mergeBuffer{entries: map[payloadKey]*mergeEntry{}, now: now, zone: zone}
}

// checked returns the announcement checked for k's payload, if buffered.
func (b *mergeBuffer) checked(k payloadKey) *updates.Accepted {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[k]; ok {
		return e.checked
	}
	return nil
}

// adds reports whether s would add to k's entry: a signer not there yet, or
// certificates an earlier copy of the signer's signature lacked (peers
// catching up may need them). The validator asks before verifying anything,
// so a copy that adds nothing costs no signature check.
func (b *mergeBuffer) adds(k payloadKey, s trust.Signature) bool {
	fp, err := trust.ParseFingerprint(s.KeyID)
	if err != nil {
		return true // malformed: verification will say so
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[k]
	if !ok {
		return true
	}
	i, ok := e.keys[fp]
	return !ok || len(e.sigs[i].Certificates) == 0 && len(s.Certificates) > 0
}

// add merges verified signatures into k's entry, creating it with checked
// if it is new, and returns the merged announcement and how many signatures
// were new or now carry certificates.
func (b *mergeBuffer) add(k payloadKey, checked *updates.Accepted, in []signed) (*verifiedAnnouncement, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	e, ok := b.entries[k]
	if !ok {
		if len(b.order) >= MaxPendingPayloads {
			b.drop(b.order[0])
		}
		e = &mergeEntry{checked: checked, keys: map[trust.Fingerprint]int{}, added: b.now()}
		b.entries[k] = e
		b.order = append(b.order, k)
	}
	added := 0
	for _, s := range in {
		if e.merge(s) {
			added++
		}
	}
	return e.view(b.zone, b.distrusted), added
}

// view returns the entry as the rest of the node sees it: the merged
// envelope and the checked announcement with every merged signer.
func (b *mergeBuffer) view(k payloadKey) *verifiedAnnouncement {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[k]; ok {
		return e.view(b.zone, b.distrusted)
	}
	return nil
}

// all returns a view of every buffered payload, oldest first.
func (b *mergeBuffer) all() []*verifiedAnnouncement {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	out := make([]*verifiedAnnouncement, 0, len(b.order))
	for _, k := range b.order {
		out = append(out, b.entries[k].view(b.zone, b.distrusted))
	}
	return out
}

// merge adds s unless its signer is there already or the envelope is full;
// a copy with certificates replaces one without.
func (e *mergeEntry) merge(s signed) bool {
	fp := s.id.Fingerprint
	s.sig.KeyID = fp.String()
	if i, ok := e.keys[fp]; ok {
		if len(e.sigs[i].Certificates) > 0 || len(s.sig.Certificates) == 0 {
			return false
		}
		e.sigs[i] = s.sig
		return true
	}
	if len(e.sigs) >= trust.MaxSignatures {
		return false
	}
	e.keys[fp] = len(e.sigs)
	e.sigs = append(e.sigs, s.sig)
	e.ids = append(e.ids, s.id)
	return true
}

// view is the entry without the signatures of distrusted signers: they
// neither count nor travel on in the merged envelope.
func (e *mergeEntry) view(zone trust.Zone, distrusted func(trust.Fingerprint) bool) *verifiedAnnouncement {
	ve := e.checked.Envelope
	env := trust.NewEnvelope(ve.PayloadType, ve.Payload)
	merged := &trust.VerifiedEnvelope{PayloadType: ve.PayloadType, Payload: ve.Payload}
	for i, id := range e.ids {
		if distrusted != nil && distrusted(id.Fingerprint) {
			continue
		}
		env.Signatures = append(env.Signatures, e.sigs[i])
		merged.Signers = append(merged.Signers, id)
	}
	return &verifiedAnnouncement{Accepted: e.checked.WithSigners(merged, zone), Envelope: env}
}

// signed is every signature of the entry with its signer.
func (e *mergeEntry) signed() []signed {
	out := make([]signed, len(e.sigs))
	for i := range e.sigs {
		out[i] = signed{sig: e.sigs[i], id: e.ids[i]}
	}
	return out
}

// rivals returns a view of every buffered payload for id at version other
// than k's, oldest first: the payloads a new one may conflict with.
func (b *mergeBuffer) rivals(id string, version uint64, k payloadKey) []*verifiedAnnouncement {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	var out []*verifiedAnnouncement
	for _, o := range b.order {
		a := b.entries[o].checked.Announcement
		if o != k && a.ID == id && a.Patchnet.Version == version {
			out = append(out, b.entries[o].view(b.zone, b.distrusted))
		}
	}
	return out
}

// signedOf returns the signatures merged for k's payload, nil if none.
func (b *mergeBuffer) signedOf(k payloadKey) []signed {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[k]; ok {
		return e.signed()
	}
	return nil
}

// take removes k's entry and returns its signatures, nil if none is held.
func (b *mergeBuffer) take(k payloadKey) []signed {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[k]
	if !ok {
		return nil
	}
	b.drop(k)
	return e.signed()
}

// expire drops entries older than MergeTTL.
func (b *mergeBuffer) expire() {
	for len(b.order) > 0 && b.now().Sub(b.entries[b.order[0]].added) > MergeTTL {
		b.drop(b.order[0])
	}
}

func (b *mergeBuffer) drop(k payloadKey) {
	delete(b.entries, k)
	for i, o := range b.order {
		if o == k {
			b.order = append(b.order[:i], b.order[i+1:]...)
			return
		}
	}
}

// len is how many payloads are buffered.
func (b *mergeBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.order)
}

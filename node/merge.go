package node

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// payloadKey identifies one payload (type and bytes) whatever signed it.
type payloadKey [32]byte

func keyOf(env *trust.Envelope) payloadKey {
	return sha256.Sum256(trust.PAE(env.PayloadType, env.Payload))
}

// mergeBuffer accumulates the signatures of envelopes carrying the same
// payload: each supernode publishes the publisher's envelope plus its own
// co-signature, and a node needs them together to count k. It holds at most
// MaxPendingPayloads payloads, each for at most MergeTTL; the oldest is
// dropped first. Only signatures that verified, one per signer with its key
// id in canonical form, may be added (callers pass envelopes through
// verifiedSignatures): signers are deduplicated by fingerprint, so an
// unverified signature would otherwise take a genuine signer's place.
type mergeBuffer struct {
	mu      sync.Mutex
	entries map[payloadKey]*mergeEntry
	order   []payloadKey // oldest first
	now     func() time.Time
}

type mergeEntry struct {
	env   *trust.Envelope
	keys  map[trust.Fingerprint]int // signer → index in env.Signatures
	added time.Time
}

func newMergeBuffer(now func() time.Time) *mergeBuffer {
	return &mergeBuffer{entries: map[payloadKey]*mergeEntry{}, now: now}
}

// add merges env's signatures into its payload's entry and returns a copy of
// the merged envelope and how many signatures were new or now carry the
// certificates an earlier copy lacked (peers catching up may need them). A
// signature whose key id is not a canonical fingerprint is skipped.
func (b *mergeBuffer) add(env *trust.Envelope) (*trust.Envelope, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	k := keyOf(env)
	e, ok := b.entries[k]
	if !ok {
		if len(b.order) >= MaxPendingPayloads {
			b.drop(b.order[0])
		}
		e = &mergeEntry{env: trust.NewEnvelope(env.PayloadType, env.Payload), keys: map[trust.Fingerprint]int{}, added: b.now()}
		b.entries[k] = e
		b.order = append(b.order, k)
	}
	added := 0
	for _, s := range env.Signatures {
		if e.merge(s) {
			added++
		}
	}
	return e.copy(), added
}

// merge adds s unless its signer is there already or the envelope is full;
// a copy with certificates replaces one without.
func (e *mergeEntry) merge(s trust.Signature) bool {
	fp, err := trust.ParseFingerprint(s.KeyID)
	if err != nil || fp.String() != s.KeyID {
		return false
	}
	if i, ok := e.keys[fp]; ok {
		if len(e.env.Signatures[i].Certificates) > 0 || len(s.Certificates) == 0 {
			return false
		}
		e.env.Signatures[i] = s
		return true
	}
	if len(e.env.Signatures) >= trust.MaxSignatures {
		return false
	}
	e.keys[fp] = len(e.env.Signatures)
	e.env.Signatures = append(e.env.Signatures, s)
	return true
}

func (e *mergeEntry) copy() *trust.Envelope {
	c := trust.NewEnvelope(e.env.PayloadType, e.env.Payload)
	c.Signatures = append(c.Signatures, e.env.Signatures...)
	return c
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

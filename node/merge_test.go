package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
)

// fakeSigned is a signature by name, as the validator hands it to the merge
// buffer after verification (the identity's fingerprint derived from name).
func fakeSigned(name string, certs bool) signed {
	fp := trust.Fingerprint(sha256.Sum256([]byte(name)))
	s := trust.Signature{KeyID: fp.String(), Sig: []byte(name)}
	if certs {
		s.Certificates = [][]byte{[]byte("leaf of " + name)}
	}
	return signed{sig: s, id: trust.Identity{Fingerprint: fp, Subject: name}}
}

func fakeChecked(payload string) (payloadKey, *updates.Accepted) {
	env := trust.NewEnvelope("text/plain", []byte(payload))
	return keyOf(env), &updates.Accepted{Envelope: &trust.VerifiedEnvelope{PayloadType: env.PayloadType, Payload: env.Payload}}
}

func addNamed(b *mergeBuffer, payload string, certs bool, names ...string) (*verifiedAnnouncement, int) {
	k, checked := fakeChecked(payload)
	var in []signed
	for _, n := range names {
		in = append(in, fakeSigned(n, certs))
	}
	return b.add(k, checked, in)
}

func TestMergeAccumulatesDistinctSigners(t *testing.T) {
	b := newMergeBuffer(time.Now, trust.Zone{})
	for _, tc := range []struct {
		payload   string
		signers   []string
		wantAdded int
		wantSigs  int
	}{
		{"p", []string{"pub", "sn1"}, 2, 2},
		{"p", []string{"pub", "sn2"}, 1, 3},
		{"p", []string{"pub", "sn1", "sn2"}, 0, 3},
		{"other", []string{"pub", "sn3"}, 2, 2},
	} {
		merged, added := addNamed(b, tc.payload, false, tc.signers...)
		if added != tc.wantAdded || len(merged.Envelope.Signatures) != tc.wantSigs || len(merged.Accepted.Envelope.Signers) != tc.wantSigs {
			t.Errorf("add(%s %v) = %d sigs, %d added; want %d, %d", tc.payload, tc.signers,
				len(merged.Envelope.Signatures), added, tc.wantSigs, tc.wantAdded)
		}
		if string(merged.Envelope.Payload) != tc.payload {
			t.Errorf("merged payload %q, want %q", merged.Envelope.Payload, tc.payload)
		}
	}
}

// Signers are told apart by fingerprint, and a copy carrying certificates
// replaces one without, so the merged envelope verifies on peers that never
// saw the signer. adds answers the same before anything is verified.
func TestMergeDedupesBySigner(t *testing.T) {
	b := newMergeBuffer(time.Now, trust.Zone{})
	k, _ := fakeChecked("p")
	for _, tc := range []struct {
		name      string
		certs     bool
		wantAdded int
		wantCerts bool
	}{
		{"first copy, no certificates", false, 1, false},
		{"same signer again", false, 0, false},
		{"copy with certificates", true, 1, true},
		{"copy without certificates again", false, 0, true},
	} {
		s := fakeSigned("pub", tc.certs)
		if adds := b.adds(k, s.sig); adds != (tc.wantAdded == 1) {
			t.Errorf("%s: adds = %v before merging", tc.name, adds)
		}
		merged, added := addNamed(b, "p", tc.certs, "pub")
		sigs := merged.Envelope.Signatures
		if added != tc.wantAdded || len(sigs) != 1 || (len(sigs[0].Certificates) > 0) != tc.wantCerts {
			t.Errorf("%s: %d added, %d signatures, certificates %v; want %d, 1, %v", tc.name, added,
				len(sigs), len(sigs[0].Certificates) > 0, tc.wantAdded, tc.wantCerts)
		}
	}
}

func TestMergeBufferBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := newMergeBuffer(func() time.Time { return now }, trust.Zone{})
	for i := range MaxPendingPayloads + 10 {
		addNamed(b, fmt.Sprint(i), false, "pub")
	}
	if got := b.len(); got != MaxPendingPayloads {
		t.Errorf("%d payloads buffered, want the bound %d", got, MaxPendingPayloads)
	}
	if _, added := addNamed(b, "0", false, "pub"); added != 1 {
		t.Error("the oldest payload was not the one dropped")
	}
	now = now.Add(MergeTTL + time.Second)
	addNamed(b, "fresh", false, "pub")
	if got := b.len(); got != 1 {
		t.Errorf("%d payloads after MergeTTL, want only the fresh one", got)
	}
}

func TestMergeCapsSignatures(t *testing.T) {
	b := newMergeBuffer(time.Now, trust.Zone{})
	for i := range trust.MaxSignatures + 5 {
		addNamed(b, "p", false, fmt.Sprint("k", i))
	}
	merged, _ := addNamed(b, "p", false)
	if len(merged.Envelope.Signatures) != trust.MaxSignatures {
		t.Errorf("%d signatures merged, want the bound %d", len(merged.Envelope.Signatures), trust.MaxSignatures)
	}
}

func BenchmarkMerge(b *testing.B) {
	buf := newMergeBuffer(time.Now, trust.Zone{})
	names := []string{"sn1", "sn2", "sn3"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		addNamed(buf, "p", false, "pub", names[i%len(names)])
	}
}

// BenchmarkValidateAnnouncement is what a gossip message costs an agent: the
// validator verifies only the signatures that add to what it holds. The
// baseline is a bare trust.Verifier.VerifyEnvelope on the same bytes;
// "first" is a co-signed envelope never seen (fresh node per op: every
// signature verified once), "copy" the same bytes again (nothing to
// verify), "flood" one signature copied 32 times under respelled key ids.
func BenchmarkValidateAnnouncement(b *testing.B) {
	pki := trusttest.NewPKI(b, "acme")
	pub := pki.Issue(b, "acme", trust.RolePublisher)
	sn1, sn2 := pki.Issue(b, "acme", trust.RoleSupernode), pki.Issue(b, "acme", trust.RoleSupernode)
	payload := announcementPayload(b, pki.Clock.Now(), 1)
	cosigned := trusttest.Envelope(b, updates.PayloadType, payload, pub, sn1, sn2)
	n := validatorOnly(b, pki)
	b.Run("baseline=trust.VerifyEnvelope", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := n.verifier.VerifyEnvelope(cosigned); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validator/first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n.merge = newMergeBuffer(n.verifier.Now, n.zone)
			if v, _ := n.validateAnnouncement(b.Context(), n.topics.announce, "", cosigned); v != 0 {
				b.Fatalf("verdict %v", v)
			}
		}
	})
	b.Run("validator/copy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n.validateAnnouncement(b.Context(), n.topics.announce, "", cosigned)
		}
	})
	// What one announcement costs an agent in a zone with k = 2: the two
	// supernodes' co-signed copies and a merged copy from catch-up. A bare
	// verifier checks every signature of every message; the validator
	// checks each signature once.
	seq := [][]byte{
		trusttest.Envelope(b, updates.PayloadType, payload, pub, sn1),
		trusttest.Envelope(b, updates.PayloadType, payload, pub, sn2),
		cosigned,
	}
	b.Run("announcement/baseline=trust.VerifyEnvelope-each", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, raw := range seq {
				if _, err := n.verifier.VerifyEnvelope(raw); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("announcement/validator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n.merge = newMergeBuffer(n.verifier.Now, n.zone)
			for _, raw := range seq {
				n.validateAnnouncement(b.Context(), n.topics.announce, "", raw)
			}
		}
	})
}

// Re-encodings of one envelope (whitespace, field order, key id spelling,
// a repeated signature) share its message ID, so gossipsub drops them as
// duplicates before validation; a copy whose signature bytes or
// certificates differ is another message, so a forged copy can never take
// an honest message's ID and have it dropped as a duplicate.
func TestMessageIDNamesContentNotEncoding(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	pub, sn := pki.Issue(t, "acme", trust.RolePublisher), pki.Issue(t, "acme", trust.RoleSupernode)
	raw := trusttest.Envelope(t, updates.PayloadType, announcementPayload(t, pki.Clock.Now(), 1), pub, sn)
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	re := func(edit func(e *trust.Envelope)) []byte {
		c := trust.NewEnvelope(env.PayloadType, env.Payload)
		for _, s := range env.Signatures {
			s.Sig = append([]byte(nil), s.Sig...)
			c.Signatures = append(c.Signatures, s)
		}
		edit(c)
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	topic := "/patchnet/acme/announce"
	id := messageID(topic, raw)
	same := map[string][]byte{
		"leading whitespace":   append([]byte("  \n"), raw...),
		"signatures reordered": re(func(e *trust.Envelope) { e.Signatures[0], e.Signatures[1] = e.Signatures[1], e.Signatures[0] }),
		"key id in upper case": re(func(e *trust.Envelope) { e.Signatures[0].KeyID = strings.ToUpper(e.Signatures[0].KeyID) }),
		"a signature repeated": re(func(e *trust.Envelope) { e.Signatures = append(e.Signatures, e.Signatures[0]) }),
	}
	for name, b := range same {
		if messageID(topic, b) != id {
			t.Errorf("%s: another message ID", name)
		}
	}
	other := map[string][]byte{
		"a forged signature":    re(func(e *trust.Envelope) { e.Signatures[1].Sig[0] ^= 1 }),
		"certificates left out": re(func(e *trust.Envelope) { e.Signatures[1].Certificates = nil }),
		"one signature fewer":   re(func(e *trust.Envelope) { e.Signatures = e.Signatures[:1] }),
	}
	for name, b := range other {
		if messageID(topic, b) == id {
			t.Errorf("%s: the honest message's ID", name)
		}
	}
	if messageID("/patchnet/acme/supernodes", raw) == id {
		t.Error("the same bytes on another topic share the ID")
	}
}

// TestMessageIDMemo checks the memo: a copy's ID is the derived one, the
// bytes on another topic are another entry, and the oldest entry goes
// once messageIDMemoSize others came after it.
func TestMessageIDMemo(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	pub, sn := pki.Issue(t, "acme", trust.RolePublisher), pki.Issue(t, "acme", trust.RoleSupernode)
	raw := trusttest.Envelope(t, updates.PayloadType, announcementPayload(t, pki.Clock.Now(), 1), pub, sn)
	topic := "/patchnet/acme/announce"
	if first, again := messageID(topic, raw), messageID(topic, raw); first != deriveMessageID(topic, raw) || again != first {
		t.Errorf("first %x, again %x, derived %x", first, again, deriveMessageID(topic, raw))
	}
	var m idMemo
	sum := m.sum(topic, raw)
	m.put(sum, [32]byte{1})
	if id, ok := m.get(sum); !ok || id != ([32]byte{1}) {
		t.Errorf("got %x %v, want the remembered id", id, ok)
	}
	if _, ok := m.get(m.sum("/patchnet/acme/supernodes", raw)); ok {
		t.Error("the same bytes on another topic found an entry")
	}
	if m.sum("a\x00", []byte("b")) == m.sum("a", []byte("\x00b")) {
		t.Error("the same bytes split into another topic and data share a key")
	}
	for i := range messageIDMemoSize {
		m.put(m.sum(topic, fmt.Appendf(nil, "other %d", i)), [32]byte{2})
	}
	if _, ok := m.get(sum); ok {
		t.Errorf("the oldest entry outlived %d newer ones", messageIDMemoSize)
	}
}

// BenchmarkMessageID is what naming a gossip copy costs: "derive" parses
// the envelope (a co-signed announcement, three certificate chains),
// "copy" finds bytes seen before in the memo; the baseline is hashing the
// bytes alone.
func BenchmarkMessageID(b *testing.B) {
	pki := trusttest.NewPKI(b, "acme")
	pub := pki.Issue(b, "acme", trust.RolePublisher)
	sn1, sn2 := pki.Issue(b, "acme", trust.RoleSupernode), pki.Issue(b, "acme", trust.RoleSupernode)
	raw := trusttest.Envelope(b, updates.PayloadType, announcementPayload(b, pki.Clock.Now(), 1), pub, sn1, sn2)
	topic := "/patchnet/acme/announce"
	b.Run("baseline=sha256", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			sha256.Sum256(raw)
		}
	})
	b.Run("derive", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			deriveMessageID(topic, raw)
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			messageID(topic, raw)
		}
	})
}

// A payload checked once while valid, whose co-signatures keep arriving
// after it expired, is not merged and accepted on the strength of that old
// check: the validator bounds its life by the clock at every message.
func TestLateCoSignatureOfExpiredPayloadIgnored(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	pub, sn1, sn2 := pki.Issue(t, "acme", trust.RolePublisher), pki.Issue(t, "acme", trust.RoleSupernode), pki.Issue(t, "acme", trust.RoleSupernode)
	n := validatorOnly(t, pki)
	payload := announcementPayload(t, pki.Clock.Now(), 1) // expires in an hour
	if v, _ := n.ValidateMessage(context.Background(), n.topics.announce, "", trusttest.Envelope(t, updates.PayloadType, payload, pub, sn1)); v != overlay.Accept {
		t.Fatalf("first copy: %v", v)
	}
	pki.Clock.Set(pki.Clock.Now().Add(2 * time.Hour))
	if v, _ := n.ValidateMessage(context.Background(), n.topics.announce, "", trusttest.Envelope(t, updates.PayloadType, payload, pub, sn2)); v != overlay.Ignore {
		t.Fatalf("a new co-signature of the expired payload: %v, want ignore", v)
	}
}

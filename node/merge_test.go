package node

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
)

// envWith is an envelope signed (in form only) by the named signers, each
// under a canonical key id derived from its name.
func envWith(payload string, signers ...string) *trust.Envelope {
	env := trust.NewEnvelope("text/plain", []byte(payload))
	for _, k := range signers {
		env.Signatures = append(env.Signatures, trust.Signature{KeyID: keyID(k), Sig: []byte(k)})
	}
	return env
}

func keyID(name string) string { return trust.Fingerprint(sha256.Sum256([]byte(name))).String() }

func TestMergeAccumulatesDistinctSigners(t *testing.T) {
	b := newMergeBuffer(time.Now)
	for _, tc := range []struct {
		env       *trust.Envelope
		wantAdded int
		wantSigs  int
	}{
		{envWith("p", "pub", "sn1"), 2, 2},
		{envWith("p", "pub", "sn2"), 1, 3},
		{envWith("p", "pub", "sn1", "sn2"), 0, 3},
		{envWith("other", "pub", "sn3"), 2, 2},
	} {
		merged, added := b.add(tc.env)
		if added != tc.wantAdded || len(merged.Signatures) != tc.wantSigs {
			t.Errorf("add(%s %d sigs) = %d sigs, %d added; want %d, %d", tc.env.Payload, len(tc.env.Signatures),
				len(merged.Signatures), added, tc.wantSigs, tc.wantAdded)
		}
		if string(merged.Payload) != string(tc.env.Payload) {
			t.Errorf("merged payload %q, want %q", merged.Payload, tc.env.Payload)
		}
	}
}

// Signers are told apart by fingerprint: a key id spelled otherwise than
// canonically is not merged (verifiedSignatures canonicalises), and a copy
// carrying certificates replaces one without, so the merged envelope
// verifies on peers that never saw the signer.
func TestMergeDedupesBySigner(t *testing.T) {
	b := newMergeBuffer(time.Now)
	upper := envWith("p", "pub")
	upper.Signatures[0].KeyID = strings.ToUpper(upper.Signatures[0].KeyID)
	withCerts := envWith("p", "pub")
	withCerts.Signatures[0].Certificates = [][]byte{[]byte("leaf")}
	for _, tc := range []struct {
		name      string
		env       *trust.Envelope
		wantAdded int
		wantCerts bool
	}{
		{"first copy, no certificates", envWith("p", "pub"), 1, false},
		{"same signer again", envWith("p", "pub"), 0, false},
		{"key id in upper case", upper, 0, false},
		{"copy with certificates", withCerts, 1, true},
		{"copy without certificates again", envWith("p", "pub"), 0, true},
	} {
		merged, added := b.add(tc.env)
		if added != tc.wantAdded || len(merged.Signatures) != 1 || (len(merged.Signatures[0].Certificates) > 0) != tc.wantCerts {
			t.Errorf("%s: %d added, %d signatures, certificates %v; want %d, 1, %v", tc.name, added,
				len(merged.Signatures), len(merged.Signatures[0].Certificates) > 0, tc.wantAdded, tc.wantCerts)
		}
	}
}

func TestMergeBufferBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := newMergeBuffer(func() time.Time { return now })
	for i := range MaxPendingPayloads + 10 {
		b.add(envWith(fmt.Sprint(i), "pub"))
	}
	if got := b.len(); got != MaxPendingPayloads {
		t.Errorf("%d payloads buffered, want the bound %d", got, MaxPendingPayloads)
	}
	if _, added := b.add(envWith("0", "pub")); added != 1 {
		t.Error("the oldest payload was not the one dropped")
	}
	now = now.Add(MergeTTL + time.Second)
	b.add(envWith("fresh", "pub"))
	if got := b.len(); got != 1 {
		t.Errorf("%d payloads after MergeTTL, want only the fresh one", got)
	}
}

func TestMergeCapsSignatures(t *testing.T) {
	b := newMergeBuffer(time.Now)
	for i := range trust.MaxSignatures + 5 {
		b.add(envWith("p", fmt.Sprint("k", i)))
	}
	merged, _ := b.add(envWith("p"))
	if len(merged.Signatures) != trust.MaxSignatures {
		t.Errorf("%d signatures merged, want the bound %d", len(merged.Signatures), trust.MaxSignatures)
	}
}

func BenchmarkMerge(b *testing.B) {
	buf := newMergeBuffer(time.Now)
	envs := []*trust.Envelope{envWith("p", "pub", "sn1"), envWith("p", "pub", "sn2"), envWith("p", "pub", "sn3")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf.add(envs[i%len(envs)])
	}
}

// BenchmarkVerifiedSignatures is what every announcement costs before it is
// merged: each signature verified on its own, one kept per signer. The
// baseline is trust.Verifier.VerifyEnvelope on the same bytes (which the
// gossip validator runs anyway); "flood" is one signature copied 32 times
// under respelled key ids.
func BenchmarkVerifiedSignatures(b *testing.B) {
	pki := trusttest.NewPKI(b, "acme")
	pub := pki.Issue(b, "acme", trust.RolePublisher)
	sn1, sn2 := pki.Issue(b, "acme", trust.RoleSupernode), pki.Issue(b, "acme", trust.RoleSupernode)
	n := validatorOnly(b, pki)
	payload := announcementPayload(b, pki.Clock.Now(), 1)
	cosigned := trusttest.Envelope(b, updates.PayloadType, payload, pub, sn1, sn2)
	env, err := trust.ParseEnvelope(trusttest.Envelope(b, updates.PayloadType, payload, pub))
	if err != nil {
		b.Fatal(err)
	}
	for len(env.Signatures) < trust.MaxSignatures {
		s := env.Signatures[0]
		s.KeyID = strings.ToUpper(s.KeyID[:len(env.Signatures)]) + s.KeyID[len(env.Signatures):]
		env.Signatures = append(env.Signatures, s)
	}
	flood, err := env.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		raw  []byte
	}{{"cosigned", cosigned}, {"flood", flood}} {
		b.Run("baseline=trust.VerifyEnvelope/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.verifier.VerifyEnvelope(c.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("verifiedSignatures/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := n.verifiedSignatures(c.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

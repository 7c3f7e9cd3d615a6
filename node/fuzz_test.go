package node

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
)

// validatorOnly is a Node with just what ValidateMessage reads: a verifier
// pinning pki's root, and seen and co-signing stores in an in-memory badger.
func validatorOnly(tb testing.TB, pki *trusttest.PKI) *Node {
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil).
		WithMemTableSize(1 << 20).WithValueThreshold(64 << 10)) // as openDB
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return &Node{cfg: Config{Zone: "acme", Threshold: 1, Publishers: 1}, verifier: pki.Verifier(tb), db: db,
		seen: updates.NewBadgerSeenStore(db), cosigned: newCosignStore(db), toInstall: newPendingStore(db), log: slog.New(slog.DiscardHandler)}
}

// fuzzAnnouncement is a small valid announcement dated by clock.
func fuzzAnnouncement(tb testing.TB, now time.Time) []byte {
	return announcementPayload(tb, now, 1)
}

// announcementPayload is version of a small valid announcement dated by
// clock.
func announcementPayload(tb testing.TB, now time.Time, version uint64) []byte {
	now = now.UTC().Truncate(time.Second)
	a := &updates.Announcement{ID: "PNT-FUZZ-0001", Modified: now, Summary: "fuzz",
		Patchnet: updates.Patchnet{Version: version, Categories: []updates.Category{updates.CategorySecurity},
			Expires:  now.Add(time.Hour),
			Artifact: &updates.Artifact{Name: "x.deb", Size: 3, SHA256: sha256.Sum256([]byte("abc")), Method: updates.MethodDpkg}}}
	payload, err := a.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return payload
}

// FuzzValidateMessage feeds arbitrary bytes to the gossip validator through
// both of its decoders (DSSE envelope JSON, DER CRL): it must never panic,
// and an envelope it accepts must verify on an independent verifier.
func FuzzValidateMessage(f *testing.F) {
	pki := trusttest.NewPKI(f, "acme")
	pub := pki.Issue(f, "acme", trust.RolePublisher)
	sn := pki.Issue(f, "acme", trust.RoleSupernode)
	payload := fuzzAnnouncement(f, pki.Clock.Now())
	f.Add(trusttest.Envelope(f, updates.PayloadType, payload, pub, sn))
	f.Add(trusttest.Envelope(f, updates.PayloadType, payload, sn))
	f.Add(pki.CRL(f, "acme"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	n := validatorOnly(f, pki)
	independent := pki.Verifier(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v := n.ValidateMessage(context.Background(), "/patchnet/acme/announce", "", data)
		if v != overlay.Accept || isCRL(data) {
			return
		}
		if _, err := independent.VerifyEnvelope(data); err != nil {
			t.Errorf("validator accepted an envelope that does not verify: %v", err)
		}
	})
}

// FuzzVerifiedSignatures feeds arbitrary bytes to what the merge buffer is
// given: it must never panic, and what it keeps must be one verifying
// signature per publisher or supernode, under its canonical key id.
func FuzzVerifiedSignatures(f *testing.F) {
	pki := trusttest.NewPKI(f, "acme")
	pub := pki.Issue(f, "acme", trust.RolePublisher)
	sn := pki.Issue(f, "acme", trust.RoleSupernode)
	agent := pki.Issue(f, "acme", trust.RoleAgent)
	payload := fuzzAnnouncement(f, pki.Clock.Now())
	f.Add(trusttest.Envelope(f, updates.PayloadType, payload, pub, sn))
	f.Add(trusttest.Envelope(f, updates.PayloadType, payload, pub, agent))
	env, err := trust.ParseEnvelope(trusttest.Envelope(f, updates.PayloadType, payload, pub))
	if err != nil {
		f.Fatal(err)
	}
	dup := env.Signatures[0]
	dup.KeyID = strings.ToUpper(dup.KeyID)
	env.Signatures = append(env.Signatures, dup)
	twice, err := env.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(twice)
	n := validatorOnly(f, pki)
	independent := pki.Verifier(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, _, err := n.verifiedSignatures(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, s := range env.Signatures {
			fp, err := trust.ParseFingerprint(s.KeyID)
			if err != nil || fp.String() != s.KeyID || seen[s.KeyID] {
				t.Fatalf("kept key id %q: canonical %v, duplicate %v", s.KeyID, err == nil && fp.String() == s.KeyID, seen[s.KeyID])
			}
			seen[s.KeyID] = true
		}
		ve, err := independent.VerifyParsedEnvelope(env)
		if err != nil || len(ve.Rejected) > 0 || len(ve.Signers) != len(env.Signatures) {
			t.Fatalf("kept signatures do not all verify as distinct signers: %v, %+v", err, ve)
		}
	})
}

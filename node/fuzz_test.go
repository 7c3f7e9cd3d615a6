package node

import (
	"context"
	"crypto/sha256"
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
		WithMemTableSize(1 << 20).WithValueThreshold(1 << 10))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return &Node{cfg: Config{Zone: "acme", Threshold: 1, Publishers: 1}, verifier: pki.Verifier(tb),
		seen: updates.NewBadgerSeenStore(db), cosigned: &cosignStore{db: db}}
}

// fuzzAnnouncement is a small valid announcement dated by clock.
func fuzzAnnouncement(tb testing.TB, now time.Time) []byte {
	now = now.UTC().Truncate(time.Second)
	a := &updates.Announcement{ID: "PNT-FUZZ-0001", Modified: now, Summary: "fuzz",
		Patchnet: updates.Patchnet{Version: 1, Categories: []updates.Category{updates.CategorySecurity},
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

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

// validatorOnly is an agent Node with just what ValidateMessage reads: a
// verifier pinning pki's root and holding its CRLs, the zone's topics, a
// merge buffer, and the agent's seen versions and lifecycle records in an
// in-memory badger.
func validatorOnly(tb testing.TB, pki *trusttest.PKI) *Node {
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil).
		WithMemTableSize(1 << 20).WithValueThreshold(64 << 10)) // as openDB
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	v := pki.Verifier(tb)
	for _, crl := range [][]byte{pki.CRL(tb, "acme"), pki.RootCRL(tb)} {
		if _, err := v.AddCRL(crl); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := Config{Zone: "acme", Threshold: 1, Publishers: 1, RequireCRL: true}
	zone := pki.ZoneRef("acme")
	return &Node{cfg: cfg, creds: &trust.Credentials{}, self: trust.Identity{Roles: []trust.Role{trust.RoleAgent}}, zone: zone,
		policy: cfg.policy(zone), topics: zoneTopics("acme"), verifier: v, db: db,
		merge: newMergeBuffer(v.Now, zone), conflicts: newConflictSet(), redundancy: newRedundancy(), events: newEvents(nil), log: slog.New(slog.DiscardHandler),
		agent: &agentPart{seen: updates.NewBadgerSeenStore(db), life: newLifecycle(db, v.Now), handlers: newInflight()}}
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

// FuzzValidateMessage feeds arbitrary bytes to the gossip validator on both
// of its topics (DSSE envelope JSON on the announce topic, DER CRL on the
// CRL topic): it must never panic, and what it accepts must verify on an
// independent verifier: every signature the merged envelope carries, each
// signer once, under its canonical key id.
func FuzzValidateMessage(f *testing.F) {
	pki := trusttest.NewPKI(f, "acme")
	pub := pki.Issue(f, "acme", trust.RolePublisher)
	sn := pki.Issue(f, "acme", trust.RoleSupernode)
	agent := pki.Issue(f, "acme", trust.RoleAgent)
	payload := fuzzAnnouncement(f, pki.Clock.Now())
	f.Add(false, trusttest.Envelope(f, updates.PayloadType, payload, pub, sn))
	f.Add(false, trusttest.Envelope(f, updates.PayloadType, payload, sn))
	f.Add(false, trusttest.Envelope(f, updates.PayloadType, payload, pub, agent))
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
	f.Add(false, twice)
	f.Add(true, pki.CRL(f, "acme"))
	f.Add(true, []byte{0x30, 0x82, 0x01, 0x00})
	independent := pki.Verifier(f)
	f.Fuzz(func(t *testing.T, crlTopic bool, data []byte) {
		n := validatorOnly(t, pki)
		topic := n.topics.announce
		if crlTopic {
			topic = n.topics.crl
		}
		v, verified := n.ValidateMessage(context.Background(), topic, "", data)
		va, ok := verified.(*verifiedAnnouncement)
		if v != overlay.Accept || !ok {
			return
		}
		seen := map[string]bool{}
		for _, s := range va.Envelope.Signatures {
			fp, err := trust.ParseFingerprint(s.KeyID)
			if err != nil || fp.String() != s.KeyID || seen[s.KeyID] {
				t.Fatalf("kept key id %q: canonical %v, duplicate %v", s.KeyID, err == nil && fp.String() == s.KeyID, seen[s.KeyID])
			}
			seen[s.KeyID] = true
		}
		ve, err := independent.VerifyParsedEnvelope(va.Envelope)
		if err != nil || len(ve.Rejected) > 0 || len(ve.Signers) != len(va.Envelope.Signatures) {
			t.Fatalf("validator accepted signatures that do not all verify as distinct signers: %v, %+v", err, ve)
		}
	})
}

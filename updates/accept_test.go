package updates

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// zoneFixture is a zone with a publisher, supernodes and an acceptor.
type zoneFixture struct {
	pki        *trusttest.PKI
	verifier   *trust.Verifier
	store      *MemorySeenStore
	acceptor   *Acceptor
	publisher  *trusttest.Member
	supernodes []*trusttest.Member
}

func newZone(t *testing.T, k, supernodes int) *zoneFixture {
	t.Helper()
	pki := trusttest.NewPKI(t, "acme")
	z := &zoneFixture{pki: pki, verifier: verifierWithCRLs(t, pki), store: NewMemorySeenStore()}
	z.publisher = pki.Issue(t, "acme", trust.RolePublisher)
	for i := 0; i < supernodes; i++ {
		z.supernodes = append(z.supernodes, pki.Issue(t, "acme", trust.RoleSupernode))
	}
	policy := DefaultPolicy(pki.ZoneRef("acme"))
	policy.Threshold = k
	var err error
	if z.acceptor, err = NewAcceptor(z.verifier, policy, z.store); err != nil {
		t.Fatal(err)
	}
	return z
}

// verifierWithCRLs is pki's verifier holding current CRLs of every zone CA
// and of the root, as acceptance requires.
func verifierWithCRLs(t *testing.T, pki *trusttest.PKI) *trust.Verifier {
	t.Helper()
	v := pki.Verifier(t)
	crls := [][]byte{pki.RootCRL(t)}
	for _, c := range pki.Intermediates() {
		mem, err := trust.MembershipOf(c)
		if err != nil {
			t.Fatal(err)
		}
		crls = append(crls, pki.CRL(t, mem.Zone))
	}
	for _, crl := range crls {
		if _, err := v.AddCRL(crl); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// announcement makes a valid announcement of id at version, written at the
// PKI's clock.
func (z *zoneFixture) announcement(id string, version uint64, content string) *Announcement {
	a := validAnnouncement()
	a.ID = id
	a.Modified = z.pki.Clock.Now()
	a.Patchnet = testPatchnet([]byte(content))
	a.Patchnet.Version = version
	a.Patchnet.Expires = a.Modified.Add(3 * 24 * time.Hour) // within the CRLs' life
	return a
}

func payload(t *testing.T, a *Announcement) []byte {
	t.Helper()
	raw, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func signed(t *testing.T, a *Announcement, signers ...*trusttest.Member) []byte {
	t.Helper()
	return trusttest.Envelope(t, PayloadType, payload(t, a), signers...)
}

// quorum is the publisher and the first k supernodes.
func (z *zoneFixture) quorum(k int) []*trusttest.Member {
	return append([]*trusttest.Member{z.publisher}, z.supernodes[:k]...)
}

func TestAcceptsQuorum(t *testing.T) {
	z := newZone(t, 2, 3)
	a := z.announcement("DSA-9001-1", 1, "v1")
	acc, err := z.acceptor.Accept(signed(t, a, z.quorum(2)...))
	if err != nil {
		t.Fatal(err)
	}
	if acc.Announcement.ID != a.ID || len(acc.Publishers) != 1 || len(acc.Supernodes) != 2 {
		t.Errorf("accepted %+v", acc)
	}
	if h, ok, _ := z.store.Highest(a.ID); !ok || h != 1 {
		t.Errorf("highest = %d, %v; want 1", h, ok)
	}
}

func TestRejectsRollback(t *testing.T) {
	z := newZone(t, 2, 2)
	v1 := signed(t, z.announcement("DSA-9001-1", 1, "v1"), z.quorum(2)...)
	v2 := signed(t, z.announcement("DSA-9001-1", 2, "v2"), z.quorum(2)...)
	if _, err := z.acceptor.Accept(v2); err != nil {
		t.Fatal(err)
	}
	_, err := z.acceptor.Accept(v1)
	if !errors.Is(err, trust.ErrRollback) || !strings.Contains(err.Error(), "version 1, already accepted version 2") {
		t.Fatalf("Accept(v1 after v2) = %v, want ErrRollback naming both versions", err)
	}
	// The same announcement again is a duplicate, not an attack.
	_, err = z.acceptor.Accept(v2)
	if !errors.Is(err, ErrDuplicate) || errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("Accept(v2 again) = %v, want ErrDuplicate only", err)
	}
}

func TestRejectsExpiredAnnouncement(t *testing.T) {
	z := newZone(t, 2, 2)
	a := z.announcement("DSA-9001-1", 1, "v1")
	env := signed(t, a, z.quorum(2)...)
	// Indefinite freeze: the attacker keeps replaying this announcement
	// long after newer ones exist; once it expires, it is refused.
	z.pki.Clock.Set(a.Patchnet.Expires)
	_, err := z.acceptor.Accept(env)
	if !errors.Is(err, trust.ErrExpired) || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("Accept(expired) = %v, want ErrExpired", err)
	}
	if _, ok, _ := z.store.Highest(a.ID); ok {
		t.Error("an expired announcement was recorded")
	}
}

func TestFastForwardNeedsQuorum(t *testing.T) {
	z := newZone(t, 3, 3)
	huge := signed(t, z.announcement("DSA-9001-1", 1<<62, "evil"), z.quorum(2)...)
	_, err := z.acceptor.Accept(huge)
	if !errors.Is(err, trust.ErrInsufficientSigners) || !strings.Contains(err.Error(), "2 of 3 supernode co-signatures count") {
		t.Fatalf("Accept(huge version, 2 of 3) = %v, want ErrInsufficientSigners", err)
	}
	if _, ok, _ := z.store.Highest("DSA-9001-1"); ok {
		t.Fatal("a rejected fast-forward advanced the seen version")
	}
	if _, err := z.acceptor.Accept(signed(t, z.announcement("DSA-9001-1", 2, "v2"), z.quorum(3)...)); err != nil {
		t.Fatalf("a legitimate version after the refused fast-forward: %v", err)
	}
}

func TestKeyCompromiseBelowThreshold(t *testing.T) {
	z := newZone(t, 3, 3)
	stolen := z.supernodes[:2] // k-1 supernode keys and the publisher key
	a := z.announcement("DSA-9001-1", 7, "malware")
	other := trusttest.NewPKI(t, "evil") // a different organisation's supernode
	foreign := other.Issue(t, "evil", trust.RoleSupernode)
	z.pki.AddZone(t, "beta", trust.AllRoles...)
	z.verifier = verifierWithCRLs(t, z.pki) // knows zone beta's CA too
	z.acceptor, _ = NewAcceptor(z.verifier, z.acceptor.Policy(), z.store)
	betaSupernode := z.pki.Issue(t, "beta", trust.RoleSupernode)
	agent := z.pki.Issue(t, "acme", trust.RoleAgent)
	both := z.pki.Issue(t, "acme", trust.RolePublisher, trust.RoleSupernode)
	tries := map[string][]*trusttest.Member{
		"k-1 supernodes":                         append([]*trusttest.Member{z.publisher}, stolen...),
		"k-1 supernodes, one signing twice":      append([]*trusttest.Member{z.publisher}, stolen[0], stolen[1], stolen[1]),
		"plus a supernode of another root":       append([]*trusttest.Member{z.publisher, foreign}, stolen...),
		"plus a supernode of another zone":       append([]*trusttest.Member{z.publisher, betaSupernode}, stolen...),
		"plus an agent":                          append([]*trusttest.Member{z.publisher, agent}, stolen...),
		"publisher+supernode key counted twice":  append([]*trusttest.Member{both}, stolen...),
		"publisher+supernode key and publisher ": append([]*trusttest.Member{z.publisher, both}, stolen[0]),
		"two publisher keys, one also supernode": append([]*trusttest.Member{z.publisher, both}, stolen...),
	}
	for name, signers := range tries {
		t.Run(name, func(t *testing.T) {
			_, err := z.acceptor.Accept(signed(t, a, signers...))
			if !errors.Is(err, trust.ErrInsufficientSigners) {
				t.Fatalf("Accept = %v, want ErrInsufficientSigners", err)
			}
		})
	}
	if _, ok, _ := z.store.Highest(a.ID); ok {
		t.Fatal("a below-threshold announcement was recorded")
	}
	// Control: with the k-th supernode it passes.
	if _, err := z.acceptor.Accept(signed(t, a, z.quorum(3)...)); err != nil {
		t.Fatalf("full quorum refused: %v", err)
	}
}

func TestRejectsMixAndMatch(t *testing.T) {
	z := newZone(t, 2, 2)
	good := z.announcement("DSA-9001-1", 1, "good")
	evil := z.announcement("DSA-9001-1", 2, "evil")
	goodEnv, err := trust.ParseEnvelope(signed(t, good, z.quorum(2)...))
	if err != nil {
		t.Fatal(err)
	}
	// All of good's signatures moved onto evil's payload.
	lifted := trust.NewEnvelope(PayloadType, payload(t, evil))
	lifted.Signatures = goodEnv.Signatures
	raw, _ := lifted.Marshal()
	if _, err := z.acceptor.Accept(raw); !errors.Is(err, trust.ErrBadSignature) {
		t.Fatalf("Accept(lifted signatures) = %v, want ErrBadSignature", err)
	}
	// The publisher really signs evil; the supernodes' signatures are lifted.
	mixed := trust.NewEnvelope(PayloadType, payload(t, evil))
	z.publisher.Sign(t, mixed)
	mixed.Signatures = append(mixed.Signatures, goodEnv.Signatures[1:]...)
	raw, _ = mixed.Marshal()
	if _, err := z.acceptor.Accept(raw); !errors.Is(err, trust.ErrInsufficientSigners) {
		t.Fatalf("Accept(mixed) = %v, want ErrInsufficientSigners", err)
	}
	// Same payload, another payload type: signatures do not carry over.
	retyped := trust.NewEnvelope("application/json", payload(t, good))
	retyped.Signatures = goodEnv.Signatures
	raw, _ = retyped.Marshal()
	if _, err := z.acceptor.Accept(raw); !errors.Is(err, trust.ErrBadSignature) {
		t.Fatalf("Accept(retyped) = %v, want ErrBadSignature", err)
	}
}

func TestRejectsWrongPayloadType(t *testing.T) {
	z := newZone(t, 2, 2)
	raw := trusttest.Envelope(t, "application/vnd.patchnet.crl", payload(t, z.announcement("X-1", 1, "x")), z.quorum(2)...)
	if _, err := z.acceptor.Accept(raw); !errors.Is(err, trust.ErrMalformed) || !strings.Contains(err.Error(), "payload type") {
		t.Fatalf("Accept = %v, want ErrMalformed naming the payload type", err)
	}
}

func TestRequiresPublisher(t *testing.T) {
	z := newZone(t, 2, 3)
	raw := signed(t, z.announcement("X-1", 1, "x"), z.supernodes...)
	if _, err := z.acceptor.Accept(raw); !errors.Is(err, trust.ErrInsufficientSigners) || !strings.Contains(err.Error(), "publisher") {
		t.Fatalf("Accept(no publisher) = %v, want ErrInsufficientSigners for the publisher", err)
	}
}

func TestRejectsInvalidPayload(t *testing.T) {
	z := newZone(t, 2, 2)
	a := z.announcement("X-1", 1, "x")
	a.Patchnet.Expires = time.Time{}
	raw, _ := json.Marshal(a) // bypass Marshal's validation
	env := trusttest.Envelope(t, PayloadType, raw, z.quorum(2)...)
	if _, err := z.acceptor.Accept(env); !errors.Is(err, trust.ErrMalformed) || !strings.Contains(err.Error(), "patchnet.expires: required") {
		t.Fatalf("Accept = %v, want ErrMalformed naming patchnet.expires", err)
	}
}

func TestEquivocationQuarantined(t *testing.T) {
	z := newZone(t, 2, 3)
	first := signed(t, z.announcement("DSA-9001-1", 5, "first"), z.publisher, z.supernodes[0], z.supernodes[1])
	second := signed(t, z.announcement("DSA-9001-1", 5, "second"), z.publisher, z.supernodes[1], z.supernodes[2])
	acc, err := z.acceptor.Accept(first)
	if err != nil {
		t.Fatal(err)
	}
	_, err = z.acceptor.Accept(second)
	var eq *EquivocationError
	if !errors.As(err, &eq) || !errors.Is(err, trust.ErrEquivocation) || !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("Accept(second) = %v, want an EquivocationError", err)
	}
	for _, m := range []*trusttest.Member{z.publisher, z.supernodes[0], z.supernodes[1], z.supernodes[2]} {
		if !strings.Contains(err.Error(), m.PeerID().String()) {
			t.Errorf("error does not name signer %s: %v", m.PeerID(), err)
		}
	}
	if !strings.Contains(strings.Join(eq.Alert.First.Signers, " "), z.supernodes[0].PeerID().String()) ||
		strings.Contains(strings.Join(eq.Alert.First.Signers, " "), z.supernodes[2].PeerID().String()) {
		t.Errorf("first side signers wrong: %v", eq.Alert.First.Signers)
	}
	alerts, _ := z.store.Alerts()
	if len(alerts) != 1 || alerts[0].Second.Digest != eq.Alert.Second.Digest || alerts[0].First.Digest != acc.Digest {
		t.Fatalf("quarantine records = %+v", alerts)
	}
	rec, _, _ := z.store.Get("DSA-9001-1", 5)
	if rec.Digest != acc.Digest {
		t.Error("the quarantined payload replaced the accepted one")
	}
	// Below quorum, a conflicting payload is not worth an alert.
	weak := signed(t, z.announcement("DSA-9001-1", 5, "third"), z.publisher, z.supernodes[2])
	if _, err := z.acceptor.Accept(weak); !errors.Is(err, trust.ErrInsufficientSigners) {
		t.Fatalf("Accept(weak conflict) = %v, want ErrInsufficientSigners", err)
	}
	if alerts, _ := z.store.Alerts(); len(alerts) != 1 {
		t.Errorf("%d alerts after a below-quorum conflict, want 1", len(alerts))
	}
}

func TestRevokedSupernodeNotCounted(t *testing.T) {
	z := newZone(t, 2, 2)
	crl := z.pki.Revoke(t, "acme", z.supernodes[0])
	if _, err := z.verifier.AddCRL(crl); err != nil {
		t.Fatal(err)
	}
	_, err := z.acceptor.Accept(signed(t, z.announcement("X-1", 1, "x"), z.quorum(2)...))
	if !errors.Is(err, trust.ErrInsufficientSigners) || !errors.Is(err, trust.ErrRevoked) {
		t.Fatalf("Accept with a revoked supernode = %v, want ErrInsufficientSigners mentioning the revocation", err)
	}
}

func TestPolicyValidate(t *testing.T) {
	acme := trusttest.NewPKI(t, "acme").ZoneRef("acme")
	tests := []struct {
		p    Policy
		want string
	}{
		{Policy{Zone: trust.Zone{}, Threshold: 1, Publishers: 1}, "policy.zone"},
		{Policy{Zone: trust.Zone{Name: "acme"}, Threshold: 1, Publishers: 1}, `policy.zone: "acme" is bound to no root`},
		{Policy{Zone: acme, Threshold: 0, Publishers: 1}, "policy.threshold: 0"},
		{Policy{Zone: acme, Threshold: MaxThreshold + 1, Publishers: 1}, fmt.Sprintf("policy.threshold: %d", MaxThreshold+1)},
		{Policy{Zone: acme, Threshold: 1, Publishers: 0}, "policy.publishers: 0"},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.p, err, tt.want)
		}
	}
	if err := DefaultPolicy(acme).Validate(); err != nil {
		t.Error(err)
	}
}

// Arbitrary installation: an attacker who can put bytes in front of an agent
// but holds no key of the zone gets nothing accepted — not an envelope with
// no signatures, not one signed by a look-alike PKI with the same zone and
// roles, not a bare announcement where an envelope belongs — and nothing is
// recorded as seen.
func TestRejectsArbitraryInstallation(t *testing.T) {
	z := newZone(t, 2, 2)
	a := z.announcement("DSA-9100-1", 1, "payload")
	rogue := trusttest.NewPKI(t, "acme")
	rogueSigners := []*trusttest.Member{
		rogue.Issue(t, "acme", trust.RolePublisher),
		rogue.Issue(t, "acme", trust.RoleSupernode),
		rogue.Issue(t, "acme", trust.RoleSupernode),
	}
	unsigned, _ := trust.NewEnvelope(PayloadType, payload(t, a)).Marshal()
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{"no signatures", unsigned, trust.ErrUntrusted},
		{"look-alike PKI", signed(t, a, rogueSigners...), trust.ErrUnknownRoot},
		{"bare announcement", payload(t, a), trust.ErrMalformed},
		{"garbage", []byte("#!/bin/sh\nrm -rf /\n"), trust.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := z.acceptor.Accept(tc.raw)
			if !errors.Is(err, tc.want) || !errors.Is(err, trust.ErrUntrusted) {
				t.Fatalf("Accept = %v, want %v (and ErrUntrusted)", err, tc.want)
			}
		})
	}
	// The genuine envelope is still accepted afterwards: the refusals left
	// no seen version behind that would block it.
	if _, err := z.acceptor.Accept(signed(t, a, z.quorum(2)...)); err != nil {
		t.Fatalf("genuine envelope after the refusals: %v", err)
	}
}

// Validity is bounded from the verifying node's clock: an announcement whose
// modified time lies in the future (so that modified + one year stretches
// far beyond a year from now) or that expires more than MaxValidity from now
// is refused, as is a rollout that could only start after expiry.
func TestRejectsStretchedValidity(t *testing.T) {
	z := newZone(t, 2, 2)
	now := z.pki.Clock.Now()
	tests := map[string]struct {
		edit func(a *Announcement)
		want error
		text string
	}{
		"modified 50 years ahead": {func(a *Announcement) {
			a.Modified = now.AddDate(50, 0, 0)
			a.Patchnet.Expires = a.Modified.Add(300 * 24 * time.Hour)
		}, trust.ErrNotYetValid, "in the future"},
		"modified just past the skew": {func(a *Announcement) { a.Modified = now.Add(MaxClockSkew + time.Minute) }, trust.ErrNotYetValid, "in the future"},
		"rollout after expiry": {func(a *Announcement) {
			a.Patchnet.Rollout = &Rollout{NotBefore: a.Patchnet.Expires.Add(time.Hour)}
		}, trust.ErrMalformed, "rollout.not_before"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := z.announcement("DSA-9001-7", 1, "v1")
			tc.edit(a)
			_, err := z.acceptor.Accept(signed(t, a, z.quorum(2)...))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Accept = %v, want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
	ok := z.announcement("DSA-9001-7", 1, "v1")
	ok.Modified = now.Add(MaxClockSkew - time.Minute) // a publisher clock slightly ahead
	if _, err := z.acceptor.Accept(signed(t, ok, z.quorum(2)...)); err != nil {
		t.Fatalf("modified within the skew refused: %v", err)
	}
}

// A fresh node, or one an attacker keeps from its zone's CRLs, cannot tell a
// revoked supernode from a good one: no signature counts until current CRLs
// of the signer's zone CA and root are held, and each missing one is named.
func TestNoCoSignatureCountsWithoutCRL(t *testing.T) {
	z := newZone(t, 2, 2)
	raw := signed(t, z.announcement("DSA-9001-8", 1, "v1"), z.quorum(2)...)
	fresh := z.pki.Verifier(t) // no CRL at all
	steps := []struct {
		name string
		crl  []byte
		ok   bool
	}{
		{"no CRL", nil, false},
		{"zone CRL only", z.pki.CRL(t, "acme"), false},
		{"zone and root CRLs", z.pki.RootCRL(t), true},
	}
	for _, s := range steps {
		if s.crl != nil {
			if _, err := fresh.AddCRL(s.crl); err != nil {
				t.Fatal(err)
			}
		}
		ac, err := NewAcceptor(fresh, z.acceptor.Policy(), NewMemorySeenStore())
		if err != nil {
			t.Fatal(err)
		}
		_, err = ac.Accept(raw)
		switch {
		case s.ok && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case !s.ok && (!errors.Is(err, trust.ErrInsufficientSigners) || !strings.Contains(err.Error(), "no current CRL")):
			t.Fatalf("%s: Accept = %v, want ErrInsufficientSigners naming the missing CRL", s.name, err)
		}
	}
}

// What waited after acceptance (a window, a rollout slot, a fetch) is
// checked again before it is installed: a co-signer revoked since, or the
// announcement expired since, makes Recheck refuse it with the reason.
func TestRecheckRefusesWhatChangedSinceAcceptance(t *testing.T) {
	z := newZone(t, 2, 2)
	acc, err := z.acceptor.Accept(signed(t, z.announcement("DSA-9001-9", 1, "v1"), z.quorum(2)...))
	if err != nil {
		t.Fatal(err)
	}
	policy := z.acceptor.Policy()
	if _, err := Recheck(z.verifier, acc, policy); err != nil {
		t.Fatalf("nothing changed: %v", err)
	}
	if _, err := z.verifier.AddCRL(z.pki.Revoke(t, "acme", z.supernodes[1])); err != nil {
		t.Fatal(err)
	}
	if _, err := Recheck(z.verifier, acc, policy); !errors.Is(err, trust.ErrInsufficientSigners) || !errors.Is(err, trust.ErrRevoked) {
		t.Fatalf("a co-signer revoked since: %v, want ErrInsufficientSigners naming the revocation", err)
	}
	z2 := newZone(t, 2, 2)
	a := z2.announcement("DSA-9001-9", 1, "v1")
	acc, err = z2.acceptor.Accept(signed(t, a, z2.quorum(2)...))
	if err != nil {
		t.Fatal(err)
	}
	z2.pki.Clock.Set(a.Patchnet.Expires.Add(time.Second))
	if _, err := Recheck(z2.verifier, acc, z2.acceptor.Policy()); !errors.Is(err, trust.ErrExpired) {
		t.Fatalf("expired since: %v, want ErrExpired", err)
	}
}

// Only an equivocation quarantines a version: a conflicting co-signature
// short of k recorded for it holds its own payload aside, never the
// version's accepted one.
func TestQuarantinedOnlyByEquivocation(t *testing.T) {
	tests := []struct {
		kind string
		want bool
	}{
		{AlertEquivocation, true},
		{AlertConflictingCoSignature, false},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			store := NewMemorySeenStore()
			if err := store.Quarantine(Alert{Kind: tt.kind, ID: "PNT-1", Version: 3}); err != nil {
				t.Fatal(err)
			}
			got, err := Quarantined(store, "PNT-1", 3)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tt.want {
				t.Errorf("Quarantined = %v, want quarantined %v", got, tt.want)
			}
		})
	}
}

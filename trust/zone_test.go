package trust_test

import (
	"testing"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// Two pinned roots each have a zone CA named "acme": a federated partner's
// supernodes verify (they may join and relay) but never count in our zone
// "acme", because a zone is its name under its root, not the name alone.
func TestRejectsZoneSquattingThroughFederation(t *testing.T) {
	clock := trusttest.NewFakeClock(trusttest.Epoch)
	ours := trusttest.NewPKIWithClock(t, clock, "acme")
	theirs := trusttest.NewPKIWithClock(t, clock, "acme")
	cfg := ours.VerifierConfig()
	cfg.Roots = append(cfg.Roots, theirs.Roots...)
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub := theirs.Issue(t, "acme", trust.RolePublisher)
	s1, s2 := theirs.Issue(t, "acme", trust.RoleSupernode), theirs.Issue(t, "acme", trust.RoleSupernode)
	ve := mustVerify(t, v, envelope(t, pub, s1, s2))
	acme := ours.ZoneRef("acme")
	wantErr(t, ve.RequireSigners(trust.RolePublisher, acme, 1), trust.ErrInsufficientSigners, "federated zone of the same name")
	wantErr(t, ve.RequireSigners(trust.RoleSupernode, acme, 1), trust.ErrInsufficientSigners)
	wantErr(t, ve.Signers[1].Check(trust.RoleSupernode, acme), trust.ErrWrongZone)
	if err := ve.RequireSigners(trust.RoleSupernode, theirs.ZoneRef("acme"), 2); err != nil {
		t.Fatalf("their own zone: %v", err)
	}
	if _, err := v.BindZone("acme"); err == nil {
		t.Fatal("BindZone with two roots pinned bound the name to one of them")
	}
	if err := ve.Signers[1].Check(trust.RoleSupernode, trust.Zone{Name: "acme"}); err == nil {
		t.Fatal("a zone bound to no root admitted a signer")
	}
}

// Identity.CRLCurrent is true only while current CRLs of both the zone CA
// and the root are held: a signer's clean revocation status is positive
// knowledge, never the absence of a CRL (a fresh node, or one cut off).
func TestCRLCurrentNeedsZoneAndRootCRL(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	sn := pki.Issue(t, "acme", trust.RoleSupernode)
	v := pki.Verifier(t)
	steps := []struct {
		name string
		crl  []byte
		want bool
	}{
		{"no CRL", nil, false},
		{"zone CRL only", pki.CRL(t, "acme"), false},
		{"zone and root CRL", pki.RootCRL(t), true},
	}
	for _, s := range steps {
		if s.crl != nil {
			if _, err := v.AddCRL(s.crl); err != nil {
				t.Fatal(err)
			}
		}
		ve := mustVerify(t, v, envelope(t, sn))
		if got := ve.Signers[0].CRLCurrent; got != s.want {
			t.Errorf("%s: CRLCurrent = %v, want %v", s.name, got, s.want)
		}
	}
}

// RequireCRL exempts no issuer: a chain under a root whose CRL is not held
// fails closed like one under a zone CA without a CRL.
func TestRequireCRLCoversRoots(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	sn := pki.Issue(t, "acme", trust.RoleSupernode)
	cfg := pki.VerifierConfig()
	cfg.RequireCRL = true
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddIntermediates(pki.Intermediates()...); err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddCRL(pki.CRL(t, "acme")); err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyEnvelope(envelope(t, sn))
	wantErr(t, err, trust.ErrStaleCRL, "root CA")
	if _, err := v.AddCRL(pki.RootCRL(t)); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, v, envelope(t, sn))
}

// Holds answers exactly as Check does, for every role and zone binding.
func TestHoldsAgreesWithCheck(t *testing.T) {
	clock := trusttest.NewFakeClock(trusttest.Epoch)
	ours, theirs := trusttest.NewPKIWithClock(t, clock, "acme", "beta"), trusttest.NewPKIWithClock(t, clock, "acme")
	type member struct {
		pki *trusttest.PKI
		id  trust.Identity
	}
	members := []member{
		{ours, ours.Issue(t, "acme", trust.RoleSupernode).Identity}, {ours, ours.Issue(t, "beta", trust.RolePublisher).Identity},
		{theirs, theirs.Issue(t, "acme", trust.RoleSupernode).Identity},
	}
	var ids []trust.Identity
	for _, m := range members {
		m.id.Root = trust.FingerprintOf(m.pki.Root.Cert) // as the verifier would fill it
		ids = append(ids, m.id)
	}
	zones := []trust.Zone{{}, {Name: "acme"}, ours.ZoneRef("acme"), ours.ZoneRef("beta"), theirs.ZoneRef("acme")}
	for _, id := range ids {
		for _, z := range zones {
			for _, r := range trust.AllRoles {
				if got, want := id.Holds(r, z), id.Check(r, z) == nil; got != want {
					t.Errorf("%s in %s as %s: Holds %v, Check %v", id.Subject, z, r, got, want)
				}
			}
		}
	}
}

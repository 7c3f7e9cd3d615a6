package trust_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// An attacker tries to act as another node: with a certificate naming the
// victim's peer ID over the attacker's key, with the victim's (stolen)
// certificate, or by signing with its own key under the victim's chain.
func TestImpersonatedAgent(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	victim := pki.Issue(t, "acme", trust.RoleAgent)
	attacker := pki.Issue(t, "acme", trust.RoleAgent)
	now := pki.Clock.Now()
	zone := pki.Zone(t, "acme").CA

	t.Run("certificate names another peer", func(t *testing.T) {
		forged := craftLeaf(t, zone, leafSpec{
			key: attacker.Key, uriPeer: victim.PeerID().String(), zone: "acme",
			roles: []trust.Role{trust.RoleAgent}, notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour),
		})
		_, err := v.VerifyChain(forged, []*x509.Certificate{zone.Cert})
		wantErr(t, err, trust.ErrPeerIDMismatch, victim.PeerID().String(), attacker.PeerID().String())
	})
	t.Run("stolen certificate presented by another peer", func(t *testing.T) {
		_, err := v.VerifyPeer(attacker.PeerID(), victim.ChainDER())
		wantErr(t, err, trust.ErrPeerIDMismatch, victim.PeerID().String())
		id, err := v.VerifyPeer(victim.PeerID(), victim.ChainDER())
		if err != nil || id.PeerID != victim.PeerID() {
			t.Fatalf("VerifyPeer(victim) = %v, %v", id.PeerID, err)
		}
	})
	t.Run("own key under the victim's chain", func(t *testing.T) {
		env := trust.NewEnvelope(announceType, []byte("payload"))
		if err := env.Sign(attacker.Key, victim.Chain); err == nil {
			t.Fatal("Sign accepted a chain whose leaf does not hold the key")
		}
		attacker.Sign(t, env)
		env.Signatures[0].Certificates = victim.ChainDER()
		env.Signatures[0].KeyID = victim.Identity.Fingerprint.String()
		raw, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyEnvelope(raw)
		wantErr(t, err, trust.ErrBadSignature, victim.PeerID().String())
	})
}

// A supernode's certificate is revoked: its co-signature stops counting as
// soon as the CRL arrives, even though its chain was cached, and replaying
// the older CRL does not bring it back.
func TestRevokedSupernode(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	oldCRL := pki.CRL(t, "acme")
	if changed, err := v.AddCRL(oldCRL); !changed || err != nil {
		t.Fatalf("AddCRL(first) = %v, %v", changed, err)
	}
	sn1 := pki.Issue(t, "acme", trust.RoleSupernode)
	sn2 := pki.Issue(t, "acme", trust.RoleSupernode)
	raw := envelope(t, sn1, sn2)
	if err := mustVerify(t, v, raw).RequireSigners(trust.RoleSupernode, pki.ZoneRef("acme"), 2); err != nil {
		t.Fatal(err) // both chains are now cached
	}

	pki.Clock.Advance(time.Minute)
	crl := pki.Revoke(t, "acme", sn1)
	if changed, err := v.AddCRL(crl); !changed || err != nil {
		t.Fatalf("AddCRL(revoking) = %v, %v", changed, err)
	}
	ve := mustVerify(t, v, raw)
	if len(ve.Signers) != 1 || ve.Signers[0].PeerID != sn2.PeerID() {
		t.Fatalf("signers = %v, want only sn2", ve.Signers)
	}
	if len(ve.Rejected) != 1 {
		t.Fatalf("rejected = %v, want sn1's signature", ve.Rejected)
	}
	wantErr(t, ve.Rejected[0], trust.ErrRevoked, "revoked by zone CA acme at", sn1.Chain[0].SerialNumber.Text(16))
	wantErr(t, ve.RequireSigners(trust.RoleSupernode, pki.ZoneRef("acme"), 2), trust.ErrInsufficientSigners, "have 1")

	_, err := v.VerifyEnvelope(envelope(t, sn1))
	wantErr(t, err, trust.ErrRevoked)
	if changed, err := v.AddCRL(oldCRL); changed || err != nil {
		t.Fatalf("AddCRL(older) = %v, %v; want (false, nil)", changed, err)
	}
	_, err = v.VerifyChain(sn1.Chain[0], sn1.Chain[1:])
	wantErr(t, err, trust.ErrRevoked)
}

// A zone CA expires while a leaf it issued (misissued to outlive it) is
// still valid: the chain fails, naming the zone CA, and the cached verdict
// from before the expiry is not used.
func TestExpiredZoneCA(t *testing.T) {
	pki := trusttest.NewPKI(t)
	short := pki.AddZoneWith(t, "short", trusttest.ZoneOptions{Lifetime: 30 * 24 * time.Hour})
	v := pki.Verifier(t)
	key := newKey(t)
	now := pki.Clock.Now()
	leaf := craftLeaf(t, short.CA, leafSpec{
		key: key, zone: "short", roles: []trust.Role{trust.RoleSupernode},
		notBefore: now.Add(-time.Hour), notAfter: now.Add(365 * 24 * time.Hour),
	})
	m := trusttest.NewMember(t, key, leaf, short.CA.Cert)
	raw := envelope(t, m)
	mustVerify(t, v, raw)

	pki.Clock.Advance(31 * 24 * time.Hour)
	_, err := v.VerifyEnvelope(raw)
	wantErr(t, err, trust.ErrExpired, "zone CA short", "notAfter")
	_, err = v.VerifyChain(leaf, []*x509.Certificate{short.CA.Cert})
	wantErr(t, err, trust.ErrExpired, "zone CA short")
}

// An agent-role key signs an announcement: its signature is genuine, but it
// counts as zero supernodes and zero publishers. A zone CA that may grant
// only the agent role cannot mint a supernode either.
func TestAgentRoleCannotSignAnnouncement(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	agentsOnly := pki.AddZone(t, "kiosk", trust.RoleAgent)
	v := pki.Verifier(t)
	agent := pki.Issue(t, "acme", trust.RoleAgent)
	ve := mustVerify(t, v, envelope(t, agent))
	for _, role := range []trust.Role{trust.RoleSupernode, trust.RolePublisher} {
		if got := ve.SignersWith(role, pki.ZoneRef("acme")); len(got) != 0 {
			t.Fatalf("SignersWith(%s) = %v, want none", role, got)
		}
		err := ve.RequireSigners(role, pki.ZoneRef("acme"), 1)
		wantErr(t, err, trust.ErrInsufficientSigners, "have 0", "need 1")
		wantErr(t, err, trust.ErrWrongRole, "agent")
	}
	if got := len(ve.SignersWith(trust.RoleAgent, pki.ZoneRef("acme"))); got != 1 {
		t.Fatalf("SignersWith(agent) = %d, want 1", got)
	}

	key := newKey(t)
	now := pki.Clock.Now()
	escalated := craftLeaf(t, agentsOnly.CA, leafSpec{
		key: key, zone: "kiosk", roles: []trust.Role{trust.RoleSupernode},
		notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour),
	})
	_, err := v.VerifyChain(escalated, []*x509.Certificate{agentsOnly.CA.Cert})
	wantErr(t, err, trust.ErrWrongRole, "supernode", "zone CA kiosk")
}

// A certificate of zone A is used in zone B: as a co-signer it does not
// count for B, and a leaf that zone A's CA minted claiming zone B fails.
func TestZoneCertificateUsedInOtherZone(t *testing.T) {
	pki := trusttest.NewPKI(t, "a", "b")
	v := pki.Verifier(t)
	snA := pki.Issue(t, "a", trust.RoleSupernode)
	ve := mustVerify(t, v, envelope(t, snA))
	err := ve.RequireSigners(trust.RoleSupernode, pki.ZoneRef("b"), 1)
	wantErr(t, err, trust.ErrInsufficientSigners)
	wantErr(t, err, trust.ErrWrongZone, `"a"`, `"b"`)
	if err := ve.RequireSigners(trust.RoleSupernode, pki.ZoneRef("a"), 1); err != nil {
		t.Fatal(err)
	}
	wantErr(t, ve.Signers[0].Check(trust.RoleSupernode, pki.ZoneRef("b")), trust.ErrWrongZone)

	key := newKey(t)
	now := pki.Clock.Now()
	zoneA := pki.Zone(t, "a").CA
	if _, err := zoneA.NewLeaf(key.Public(), trust.Membership{Zone: "b", Roles: []trust.Role{trust.RoleAgent}},
		ca.ValidityFrom(now, 1)); err == nil {
		t.Fatal("zone CA a issued a leaf for zone b")
	}
	crossed := craftLeaf(t, zoneA, leafSpec{
		key: key, zone: "b", roles: []trust.Role{trust.RoleSupernode},
		notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour),
	})
	_, err = v.VerifyChain(crossed, []*x509.Certificate{zoneA.Cert})
	wantErr(t, err, trust.ErrWrongZone, `claims zone "b"`, "zone CA a")
}

// Certificates under a root that is not pinned fail, however the chain is
// presented, and a look-alike root with the pinned root's name fails too.
func TestUnpinnedRoot(t *testing.T) {
	clock := trusttest.NewFakeClock(trusttest.Epoch)
	pinned := trusttest.NewPKIWithClock(t, clock, "acme")
	rogue := trusttest.NewPKIWithClock(t, clock, "acme")
	v := pinned.Verifier(t)
	m := rogue.Issue(t, "acme", trust.RoleSupernode)

	_, err := v.VerifyEnvelope(envelope(t, m))
	wantErr(t, err, trust.ErrUnknownRoot)
	_, err = v.VerifyPeer(m.PeerID(), m.ChainDER())
	wantErr(t, err, trust.ErrUnknownRoot)
	wantErr(t, v.AddIntermediates(rogue.Intermediates()...), trust.ErrUnknownRoot)
	_, err = v.AddCRL(rogue.CRL(t, "acme"))
	wantErr(t, err, trust.ErrBadSignature, "zone acme") // same name, other key
	rogue.AddZone(t, "elsewhere", trust.AllRoles...)
	_, err = v.AddCRL(rogue.CRL(t, "elsewhere"))
	wantErr(t, err, trust.ErrUnknownIssuer, "zone elsewhere")

	// A look-alike: same subject as the pinned root, different key.
	lookalike, err := ca.NewRoot(newKey(t), pinned.Root.Cert.Subject.CommonName, ca.ValidityFrom(clock.Now(), 10))
	if err != nil {
		t.Fatal(err)
	}
	zkey := newKey(t)
	zcert, err := lookalike.NewZone(zkey.Public(), "acme", trust.AllRoles, ca.ValidityFrom(clock.Now(), 5))
	if err != nil {
		t.Fatal(err)
	}
	zone := &ca.Authority{Cert: zcert, Key: zkey}
	key := newKey(t)
	leaf, err := zone.NewLeaf(key.Public(), trust.Membership{Zone: "acme", Roles: []trust.Role{trust.RoleSupernode}}, ca.ValidityFrom(clock.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyChain(leaf, []*x509.Certificate{zcert, lookalike.Cert})
	wantErr(t, err, trust.ErrUnknownRoot)
}

// Once a zone's CRL passes nextUpdate, every chain through that zone CA
// fails with ErrStaleCRL (cached or not) until a fresh CRL arrives; with
// RequireCRL, a zone CA without any CRL fails the same way.
func TestStaleCRLFailsClosed(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	m := pki.Issue(t, "acme", trust.RoleSupernode)
	raw := envelope(t, m)
	if _, err := v.AddCRL(pki.CRL(t, "acme")); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, v, raw)

	pki.Clock.Advance(trusttest.CRLLifetime + time.Second)
	_, err := v.VerifyEnvelope(raw)
	wantErr(t, err, trust.ErrStaleCRL, "zone CA acme", "expired at")
	_, err = v.VerifyPeer(m.PeerID(), m.ChainDER())
	wantErr(t, err, trust.ErrStaleCRL)

	if changed, err := v.AddCRL(pki.CRL(t, "acme")); !changed || err != nil {
		t.Fatalf("AddCRL(fresh) = %v, %v", changed, err)
	}
	mustVerify(t, v, raw)

	cfg := pki.VerifierConfig()
	cfg.RequireCRL = true
	strict, err := trust.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = strict.VerifyEnvelope(raw)
	wantErr(t, err, trust.ErrStaleCRL, "no CRL from zone CA acme")
}

// A co-signature is forged or repeated to reach a quorum: the same key's
// signature twice (even under two certificates for that key) counts once,
// and a valid signature copied under another supernode's key id is rejected.
func TestForgedCoSignatureCountedOnce(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	sn1 := pki.Issue(t, "acme", trust.RoleSupernode)
	sn1again := pki.IssueWith(t, "acme", trusttest.IssueOptions{Key: sn1.Key, Roles: []trust.Role{trust.RoleSupernode}})
	sn2 := pki.Issue(t, "acme", trust.RoleSupernode)

	ve := mustVerify(t, v, envelope(t, sn1, sn1, sn1again))
	if len(ve.Signers) != 1 {
		t.Fatalf("signers = %d, want 1 (one key)", len(ve.Signers))
	}
	wantErr(t, ve.RequireSigners(trust.RoleSupernode, pki.ZoneRef("acme"), 2), trust.ErrInsufficientSigners, "have 1", "need 2")

	env := trust.NewEnvelope(announceType, []byte(`{"id":"PATCH-1"}`))
	sn1.Sign(t, env)
	copied := env.Signatures[0]
	copied.KeyID = sn2.Identity.Fingerprint.String()
	copied.Certificates = sn2.ChainDER()
	env.Signatures = append(env.Signatures, copied)
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ve = mustVerify(t, v, raw)
	if len(ve.Signers) != 1 || ve.Signers[0].PeerID != sn1.PeerID() {
		t.Fatalf("signers = %v, want sn1 only", ve.Signers)
	}
	if len(ve.Rejected) != 1 || ve.Rejected[0].Index != 1 {
		t.Fatalf("rejected = %v, want the copied signature", ve.Rejected)
	}
	wantErr(t, ve.Rejected[0], trust.ErrBadSignature, sn2.PeerID().String())
	wantErr(t, ve.RequireSigners(trust.RoleSupernode, pki.ZoneRef("acme"), 2), trust.ErrInsufficientSigners)

	// A key id that does not name the enclosed certificate is malformed.
	env.Signatures = env.Signatures[:1]
	env.Signatures[0].KeyID = sn2.Identity.Fingerprint.String()
	raw, _ = env.Marshal()
	_, err = v.VerifyEnvelope(raw)
	wantErr(t, err, trust.ErrMalformed, "keyid")
}

// A chain longer than root → zone CA → leaf fails: under a root without a
// path length limit (patchnet's own limit), under patchnet's root (its path
// length), and in an envelope carrying too many certificates.
func TestChainTooLong(t *testing.T) {
	clock := trusttest.NewFakeClock(trusttest.Epoch)
	now := clock.Now()
	root := unconstrainedRoot(t, now)
	midKey, zoneKey, leafKey := newKey(t), newKey(t), newKey(t)
	mid := craftLeaf(t, root, leafSpec{key: midKey, zone: "deep", roles: trust.AllRoles, isCA: true,
		notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)})
	midCA := &ca.Authority{Cert: mid, Key: midKey}
	zoneCert, err := midCA.NewZone(zoneKey.Public(), "deep", trust.AllRoles, ca.Validity{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	zone := &ca.Authority{Cert: zoneCert, Key: zoneKey}
	leaf, err := zone.NewLeaf(leafKey.Public(), trust.Membership{Zone: "deep", Roles: []trust.Role{trust.RoleSupernode}},
		ca.Validity{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := trust.DefaultVerifierConfig()
	cfg.Roots, cfg.Clock = []*x509.Certificate{root.Cert}, clock
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyChain(leaf, []*x509.Certificate{zoneCert, mid})
	wantErr(t, err, trust.ErrChainTooLong, "4 certificates")

	// Under patchnet's root (path length 1) the same shape breaks its
	// path length constraint.
	pki := trusttest.NewPKIWithClock(t, clock, "acme")
	pv := pki.Verifier(t)
	sub := craftLeaf(t, pki.Zone(t, "acme").CA, leafSpec{key: midKey, zone: "acme", roles: trust.AllRoles, isCA: true,
		notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)})
	subCA := &ca.Authority{Cert: sub, Key: midKey}
	deepLeaf, err := subCA.NewLeaf(leafKey.Public(), trust.Membership{Zone: "acme", Roles: []trust.Role{trust.RoleAgent}},
		ca.Validity{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pv.VerifyChain(deepLeaf, []*x509.Certificate{sub, pki.Zone(t, "acme").CA.Cert})
	wantErr(t, err, trust.ErrChainTooLong)

	env := trust.NewEnvelope(announceType, []byte("x"))
	if err := env.Sign(leafKey, []*x509.Certificate{leaf, zoneCert, mid}); !errors.Is(err, trust.ErrChainTooLong) {
		t.Fatalf("signing with a 3-certificate chain: %v, want ErrChainTooLong", err)
	}
	m := pki.Issue(t, "acme")
	good := trust.NewEnvelope(announceType, []byte("x"))
	m.Sign(t, good)
	good.Signatures[0].Certificates = append(good.Signatures[0].Certificates, pki.Root.Cert.Raw)
	raw := []byte(`{"payloadType":"t","payload":"eA==","signatures":[{"keyid":"` + good.Signatures[0].KeyID +
		`","sig":"AAAA","certificates":["` + b64(good.Signatures[0].Certificates[0]) + `","` +
		b64(good.Signatures[0].Certificates[1]) + `","` + b64(good.Signatures[0].Certificates[2]) + `"]}]}`)
	_, err = trust.ParseEnvelope(raw)
	wantErr(t, err, trust.ErrChainTooLong)
	_, err = pv.VerifyPeer(m.PeerID(), good.Signatures[0].Certificates)
	wantErr(t, err, trust.ErrChainTooLong)
}

// Oversized input is refused before any signature work: a whole envelope
// over MaxEnvelopeBytes, too many signatures, an oversized certificate.
func TestOversizedEnvelope(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	m := pki.Issue(t, "acme", trust.RoleSupernode)

	big := trust.NewEnvelope(announceType, bytes.Repeat([]byte("A"), trust.MaxEnvelopeBytes))
	m.Sign(t, big)
	if _, err := big.Marshal(); !errors.Is(err, trust.ErrOversized) {
		t.Fatalf("Marshal(oversized) = %v, want ErrOversized", err)
	}
	raw := append([]byte(`{"payloadType":"t","payload":"`), bytes.Repeat([]byte("A"), trust.MaxEnvelopeBytes)...)
	raw = append(raw, `","signatures":[]}`...)
	_, err := v.VerifyEnvelope(raw)
	wantErr(t, err, trust.ErrOversized, "limit")

	many := trust.NewEnvelope(announceType, []byte("x"))
	for range trust.MaxSignatures {
		m.Sign(t, many)
	}
	if err := many.Sign(m.Key, m.Chain); !errors.Is(err, trust.ErrTooManySignatures) {
		t.Fatalf("Sign beyond MaxSignatures = %v", err)
	}
	many.Signatures = append(many.Signatures, many.Signatures[0])
	raw = mustJSON(t, many)
	_, err = v.VerifyEnvelope(raw)
	wantErr(t, err, trust.ErrTooManySignatures)

	fat := trust.NewEnvelope(announceType, []byte("x"))
	m.Sign(t, fat)
	fat.Signatures[0].Certificates[1] = bytes.Repeat([]byte{0x30}, trust.MaxCertificateBytes+1)
	_, err = v.VerifyEnvelope(mustJSON(t, fat))
	wantErr(t, err, trust.ErrOversized, "certificate")
}

// Two organisations' roots are pinned: leaves under each verify and can
// co-sign together; leaves under a third root do not.
func TestFederationTwoRoots(t *testing.T) {
	clock := trusttest.NewFakeClock(trusttest.Epoch)
	org1 := trusttest.NewPKIWithClock(t, clock, "acme")
	org2 := trusttest.NewPKIWithClock(t, clock, "globex")
	org3 := trusttest.NewPKIWithClock(t, clock, "initech")
	cfg := org1.VerifierConfig()
	cfg.Roots = append(cfg.Roots, org2.Roots...)
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []trust.Fingerprint{trust.FingerprintOf(org1.Root.Cert), trust.FingerprintOf(org2.Root.Cert)}
	if got := v.PinnedRoots(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("PinnedRoots = %v, want %v", got, want)
	}
	a := org1.Issue(t, "acme", trust.RoleSupernode)
	g := org2.Issue(t, "globex", trust.RoleSupernode)
	i := org3.Issue(t, "initech", trust.RoleSupernode)

	ve := mustVerify(t, v, envelope(t, a, g, i))
	if got := len(ve.SignersWith(trust.RoleSupernode, trust.Zone{})); got != 2 {
		t.Fatalf("supernodes across zones = %d, want 2", got)
	}
	for _, z := range []trust.Zone{org1.ZoneRef("acme"), org2.ZoneRef("globex")} {
		if err := ve.RequireSigners(trust.RoleSupernode, z, 1); err != nil {
			t.Fatalf("zone %s: %v", z, err)
		}
	}
	if len(ve.Rejected) != 1 {
		t.Fatalf("rejected = %v, want the third root's signer", ve.Rejected)
	}
	wantErr(t, ve.Rejected[0], trust.ErrUnknownRoot)
	for _, m := range []*trusttest.Member{a, g} {
		if _, err := v.VerifyPeer(m.PeerID(), m.ChainDER()); err != nil {
			t.Fatalf("VerifyPeer(%s): %v", m.Identity.Zone, err)
		}
	}
	_, err = v.VerifyPeer(i.PeerID(), i.ChainDER())
	wantErr(t, err, trust.ErrUnknownRoot)
	if !strings.Contains(ve.Signers[1].Zone, "globex") {
		t.Fatalf("second signer zone = %q", ve.Signers[1].Zone)
	}
}

package trust_test

import (
	"crypto/x509"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
	"github.com/patchnet/patchnet/trust/trusttest"
)

func TestAddCRLNewestWins(t *testing.T) {
	pki := trusttest.NewPKI(t, "a", "b")
	v := pki.Verifier(t)
	a1, a2 := pki.CRL(t, "a"), pki.CRL(t, "a")
	b1 := pki.CRL(t, "b")
	for i, step := range []struct {
		der     []byte
		changed bool
	}{{a1, true}, {a1, false}, {a2, true}, {a1, false}, {b1, true}} {
		changed, err := v.AddCRL(step.der)
		if err != nil || changed != step.changed {
			t.Fatalf("step %d: AddCRL = %v, %v; want %v", i, changed, err, step.changed)
		}
	}
	got := v.CRLs()
	if len(got) != 2 {
		t.Fatalf("CRLs() holds %d, want 2 (one per issuer)", len(got))
	}
	var sawA2 bool
	for _, der := range got {
		sawA2 = sawA2 || string(der) == string(a2)
	}
	if !sawA2 {
		t.Fatal("CRLs() does not hold zone a's newest CRL")
	}
	st := v.CRLStatuses()
	if diff := cmp.Diff([]string{"zone CA a", "zone CA b"}, []string{st[0].Issuer, st[1].Issuer}); diff != "" {
		t.Fatal(diff)
	}
	if st[0].Number.Cmp(big.NewInt(2)) != 0 {
		t.Fatalf("zone a CRL number = %s, want 2", st[0].Number)
	}
}

func TestAddCRLRejects(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	crl := pki.CRL(t, "acme")
	bad := append([]byte(nil), crl...)
	bad[len(bad)-5] ^= 0xff // inside the signature
	_, err := v.AddCRL(bad)
	wantErr(t, err, trust.ErrBadSignature)
	_, err = v.AddCRL([]byte("not a crl"))
	wantErr(t, err, trust.ErrMalformed)
	_, err = v.AddCRL(make([]byte, trust.MaxCRLBytes+1))
	wantErr(t, err, trust.ErrOversized)
}

// A root CRL revoking a zone CA takes every leaf of that zone down.
func TestRootRevokesZoneCA(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	m := pki.Issue(t, "acme", trust.RoleSupernode)
	mustVerify(t, v, envelope(t, m))
	now := pki.Clock.Now()
	zone := pki.Zone(t, "acme").CA.Cert
	crl, err := pki.Root.NewCRL([]x509.RevocationListEntry{{SerialNumber: zone.SerialNumber, RevocationTime: now, ReasonCode: 2}},
		big.NewInt(1), now, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := v.AddCRL(crl); !changed || err != nil {
		t.Fatalf("AddCRL(root) = %v, %v", changed, err)
	}
	_, err = v.VerifyEnvelope(envelope(t, m))
	wantErr(t, err, trust.ErrRevoked, "zone CA acme revoked by root CA", "cACompromise")
}

// The cache serves verified chains without re-verifying, expires them at
// the chain's earliest notAfter, and a newer CRL drops them.
func TestChainCacheLifetime(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	m := pki.IssueWith(t, "acme", trusttest.IssueOptions{Lifetime: time.Hour})
	if _, err := v.VerifyChain(m.Chain[0], m.Chain[1:]); err != nil {
		t.Fatal(err)
	}
	// Known leaf: a signature may now omit its chain.
	env := trust.NewEnvelope(announceType, []byte("x"))
	m.Sign(t, env)
	env.Signatures[0].Certificates = nil
	mustVerify(t, v, mustJSON(t, env))

	pki.Clock.Advance(time.Hour + time.Second)
	_, err := v.VerifyEnvelope(mustJSON(t, env))
	wantErr(t, err, trust.ErrUnknownSigner) // expired out of the cache
	_, err = v.VerifyChain(m.Chain[0], m.Chain[1:])
	wantErr(t, err, trust.ErrExpired, "notAfter")
}

func TestNotYetValidAndClockSkew(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	now := pki.Clock.Now()
	soon := pki.IssueWith(t, "acme", trusttest.IssueOptions{NotBefore: now.Add(time.Minute)})
	if _, err := v.VerifyChain(soon.Chain[0], soon.Chain[1:]); err != nil {
		t.Fatalf("a leaf valid in 1 minute (skew %s): %v", trust.DefaultMaxClockSkew, err)
	}
	later := pki.IssueWith(t, "acme", trusttest.IssueOptions{NotBefore: now.Add(time.Hour)})
	_, err := v.VerifyChain(later.Chain[0], later.Chain[1:])
	wantErr(t, err, trust.ErrNotYetValid, "notBefore")

	cfg := pki.VerifierConfig()
	cfg.MaxClockSkew = 0
	strict, err := trust.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = strict.VerifyChain(soon.Chain[0], soon.Chain[1:])
	wantErr(t, err, trust.ErrNotYetValid)
}

func TestLeafIssuedByRootRejected(t *testing.T) {
	pki := trusttest.NewPKI(t)
	v := pki.Verifier(t)
	key := newKey(t)
	now := pki.Clock.Now()
	leaf := craftLeaf(t, pki.Root, leafSpec{key: key, zone: "test", roles: []trust.Role{trust.RoleAgent},
		notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)})
	_, err := v.VerifyChain(leaf, nil)
	wantErr(t, err, trust.ErrMalformed, "directly by a root")
}

func TestVerifierConfigValidate(t *testing.T) {
	pki := trusttest.NewPKI(t)
	m := pki.Issue(t, trusttest.DefaultZone)
	for name, tc := range map[string]struct {
		mutate func(*trust.VerifierConfig)
		field  string
	}{
		"no roots":      {func(c *trust.VerifierConfig) { c.Roots = nil }, "Roots"},
		"leaf as root":  {func(c *trust.VerifierConfig) { c.Roots = m.Chain[:1] }, "Roots[0]"},
		"zone as root":  {func(c *trust.VerifierConfig) { c.Roots = m.Chain[1:] }, "Roots[0]"},
		"negative size": {func(c *trust.VerifierConfig) { c.CacheSize = -1 }, "CacheSize"},
		"huge skew":     {func(c *trust.VerifierConfig) { c.MaxClockSkew = 2 * time.Hour }, "MaxClockSkew"},
	} {
		cfg := pki.VerifierConfig()
		tc.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Validate = %v, want an error naming %s", name, err, tc.field)
		}
		if _, err := trust.NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted it", name)
		}
	}
	if err := pki.VerifierConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// Gossip validators share one Verifier: concurrent verification, CRL
// updates and clock movement must be race-free and give consistent verdicts.
func TestVerifierConcurrentUse(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	cfg := pki.VerifierConfig()
	cfg.CacheSize = 4 // force evictions
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddIntermediates(pki.Intermediates()...); err != nil {
		t.Fatal(err)
	}
	var members []*trusttest.Member
	var envs [][]byte
	for range 8 {
		m := pki.Issue(t, "acme", trust.RoleSupernode)
		members = append(members, m)
		envs = append(envs, envelope(t, m))
	}
	revoked := members[0]
	crls := [][]byte{pki.CRL(t, "acme"), pki.Revoke(t, "acme", revoked)}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 6 {
		wg.Go(func() {
			for i := range 200 {
				k := (i + w) % len(envs)
				_, err := v.VerifyEnvelope(envs[k])
				if k != 0 && err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for _, c := range crls {
			if _, err := v.AddCRL(c); err != nil {
				errs <- err
			}
			_ = v.CRLs()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_, err = v.VerifyEnvelope(envs[0])
	wantErr(t, err, trust.ErrRevoked)
}

// Issuance refuses to outlive the issuer, so ca's certificates never
// depend on an expired CA.
func TestIssuanceWithinIssuerValidity(t *testing.T) {
	pki := trusttest.NewPKI(t)
	z := pki.Zone(t, trusttest.DefaultZone).CA
	key := newKey(t)
	_, err := z.NewLeaf(key.Public(), trust.Membership{Zone: trusttest.DefaultZone, Roles: []trust.Role{trust.RoleAgent}},
		ca.Validity{NotBefore: pki.Clock.Now(), NotAfter: z.Cert.NotAfter.Add(time.Second)})
	if err == nil || !strings.Contains(err.Error(), "after the issuing CA's notAfter") {
		t.Fatalf("NewLeaf beyond the zone CA = %v", err)
	}
}

// An offline host gets an envelope and its zone's CRL together, never having
// seen the zone CA: learning the zone CA from the envelope's chains lets the
// CRL in, and a revoked co-signer is then refused.
func TestLearnZoneCAsAdmitsTheirCRL(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	other := trusttest.NewPKI(t, "acme")
	pub := pki.Issue(t, "acme", trust.RolePublisher)
	sn := pki.Issue(t, "acme", trust.RoleSupernode)
	foreign := other.Issue(t, "acme", trust.RoleSupernode)
	raw := trusttest.Envelope(t, "text/plain", []byte("fix"), pub, sn, foreign)
	crl := pki.Revoke(t, "acme", sn)

	v, err := trust.NewVerifier(pki.VerifierConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddCRL(crl); err == nil {
		t.Fatal("CRL from a zone CA never seen was accepted")
	}
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.LearnZoneCAs(env); got != 2 {
		t.Errorf("learnt %d zone CA certificates, want 2 (pub's and sn's; not the unpinned PKI's)", got)
	}
	if changed, err := v.AddCRL(crl); err != nil || !changed {
		t.Fatalf("AddCRL after learning = %v, %v; want true, nil", changed, err)
	}
	ve, err := v.VerifyEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := ve.SignersWith(trust.RoleSupernode, trust.Zone{}); len(got) != 0 {
		t.Errorf("supernodes counted = %d, want 0 (one revoked, one under an unpinned root)", len(got))
	}
}

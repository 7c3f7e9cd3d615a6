package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// VerifyChain verifies leaf, with optional intermediates (its zone CA), up to
// a pinned root and checks everything patchnet requires: the shape root →
// zone CA → leaf, the membership extension in both, the leaf's zone equal to
// its zone CA's and its roles among those the CA may grant, the peer ID URI
// SAN equal to the key's peer ID, validity at the verifier's clock and
// revocation against the newest CRLs held. Verdicts are cached.
func (v *Verifier) VerifyChain(leaf *x509.Certificate, intermediates []*x509.Certificate) (Identity, error) {
	now := v.Now()
	fp := FingerprintOf(leaf)
	if e, ok := v.cache.get(fp, now); ok {
		return e.id.clone(), nil
	}
	e, err := v.verifyChainCold(leaf, intermediates, now)
	if err != nil {
		return Identity{}, fmt.Errorf("verifying chain of %s: %w", describeCert(leaf), err)
	}
	return e.id.clone(), nil
}

// verifyChainCold does the full verification and caches a success.
func (v *Verifier) verifyChainCold(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (*cacheEntry, error) {
	gen := v.cache.generation()
	if len(intermediates) >= MaxChainLength {
		return nil, fmt.Errorf("%w: %d intermediates presented (limit %d)", ErrChainTooLong, len(intermediates), MaxChainLength-2)
	}
	chain, err := v.buildChain(leaf, intermediates, now)
	if err != nil {
		return nil, err
	}
	e, err := v.checkChain(chain, now)
	if err != nil {
		return nil, err
	}
	v.cache.put(e, gen)
	return e, nil
}

// buildChain runs crypto/x509 path building against the pinned roots, with
// the presented intermediates first and the known zone CAs as a fallback.
func (v *Verifier) buildChain(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	v.mu.RLock()
	known := v.interPool
	v.mu.RUnlock()
	pools := []*x509.CertPool{known}
	if len(intermediates) > 0 {
		given := x509.NewCertPool()
		for _, c := range intermediates {
			given.AddCert(c)
		}
		pools = []*x509.CertPool{given, known}
	}
	var firstErr error
	for _, pool := range pools {
		chains, err := v.x509Verify(leaf, pool, now)
		if err == nil {
			return v.pickChain(chains)
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// x509Verify is crypto/x509 verification at now, tolerating a notBefore up
// to MaxClockSkew in the future.
func (v *Verifier) x509Verify(leaf *x509.Certificate, pool *x509.CertPool, now time.Time) ([][]*x509.Certificate, error) {
	at := now
	for range MaxChainLength {
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots: v.rootPool, Intermediates: pool, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err == nil {
			return chains, nil
		}
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired && inv.Cert != nil &&
			at.Before(inv.Cert.NotBefore) && inv.Cert.NotBefore.Sub(now) <= v.cfg.MaxClockSkew {
			at = inv.Cert.NotBefore
			continue
		}
		return nil, mapX509Error(err, at)
	}
	return nil, fmt.Errorf("%w: validity windows do not overlap within the clock skew", ErrNotYetValid)
}

// pickChain returns the first chain within MaxChainLength.
func (v *Verifier) pickChain(chains [][]*x509.Certificate) ([]*x509.Certificate, error) {
	longest := 0
	for _, c := range chains {
		if len(c) <= MaxChainLength {
			return c, nil
		}
		longest = max(longest, len(c))
	}
	return nil, fmt.Errorf("%w: chain of %d certificates (limit %d, root included)", ErrChainTooLong, longest, MaxChainLength)
}

// checkChain applies patchnet's rules to a chain crypto/x509 accepted.
func (v *Verifier) checkChain(chain []*x509.Certificate, now time.Time) (*cacheEntry, error) {
	if len(chain) != 3 {
		return nil, fmt.Errorf("%w: %s is issued directly by a root; leaves must come from a zone CA", ErrMalformed, describeCert(chain[0]))
	}
	leaf, zoneCert, root := chain[0], chain[1], chain[2]
	rootInfo, ok := v.roots[FingerprintOf(root)]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not pinned", ErrUnknownRoot, describeCert(root))
	}
	zone, err := v.zoneCAInfo(zoneCert, root)
	if err != nil {
		return nil, err
	}
	id, err := leafIdentity(leaf, zone)
	if err != nil {
		return nil, err
	}
	id.ZoneCA, id.Root, id.CRLCurrent = zone.fp, rootInfo.fp, true
	until := earliestNotAfter(chain)
	for _, step := range []struct {
		cert   *x509.Certificate
		issuer *caInfo
	}{{leaf, zone}, {zoneCert, rootInfo}} {
		next, err := v.checkRevocation(step.cert, step.issuer, now)
		if err != nil {
			return nil, err
		}
		if next.IsZero() {
			id.CRLCurrent = false // no CRL of this issuer held yet
		} else if next.Before(until) {
			until = next
		}
	}
	v.learnZoneCA(zone)
	return &cacheEntry{
		key: id.Fingerprint, id: id, pub: leaf.PublicKey,
		validFrom: latestNotBefore(chain).Add(-v.cfg.MaxClockSkew), validUntil: until,
		issuers: []Fingerprint{zone.fp, rootInfo.fp},
	}, nil
}

// leafIdentity checks the leaf against its zone CA and builds its Identity.
func leafIdentity(leaf *x509.Certificate, zone *caInfo) (Identity, error) {
	if leaf.IsCA {
		return Identity{}, fmt.Errorf("%w: %s is a CA certificate, not a node certificate", ErrMalformed, describeCert(leaf))
	}
	mem, err := MembershipOf(leaf)
	if err != nil {
		return Identity{}, fmt.Errorf("leaf %s: %w", nameOf(leaf), err)
	}
	if mem.Zone != zone.mem.Zone {
		return Identity{}, fmt.Errorf("%w: leaf claims zone %q but was issued by %s", ErrWrongZone, mem.Zone, zone.name)
	}
	for _, r := range mem.Roles {
		if !slices.Contains(zone.mem.Roles, r) {
			return Identity{}, fmt.Errorf("%w: leaf claims role %s, which %s may not grant", ErrWrongRole, r, zone.name)
		}
	}
	pid, err := leafPeerID(leaf)
	if err != nil {
		return Identity{}, err
	}
	return Identity{
		Fingerprint: FingerprintOf(leaf), PeerID: pid, Zone: mem.Zone, Roles: mem.Roles,
		Subject: leaf.Subject.String(), NotAfter: leaf.NotAfter, Certificate: leaf,
	}, nil
}

// leafPeerID derives the peer ID from the leaf key and checks that the one
// URI SAN names the same peer.
func leafPeerID(leaf *x509.Certificate) (peer.ID, error) {
	pid, err := PeerIDFromPublicKey(leaf.PublicKey)
	if err != nil {
		return "", err
	}
	var named []string
	for _, u := range leaf.URIs {
		if u.Scheme == PeerURIScheme {
			named = append(named, u.Opaque)
		}
	}
	if len(named) != 1 {
		return "", fmt.Errorf("%w: leaf has %d %s: URI SANs, want exactly 1", ErrMalformed, len(named), PeerURIScheme)
	}
	if named[0] != pid.String() {
		return "", fmt.Errorf("%w: certificate names peer %s but its key is peer %s", ErrPeerIDMismatch, named[0], pid)
	}
	return pid, nil
}

func earliestNotAfter(chain []*x509.Certificate) time.Time {
	t := chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

func latestNotBefore(chain []*x509.Certificate) time.Time {
	t := chain[0].NotBefore
	for _, c := range chain[1:] {
		if c.NotBefore.After(t) {
			t = c.NotBefore
		}
	}
	return t
}

// mapX509Error turns crypto/x509's verdict into patchnet's sentinels,
// naming the certificate at fault.
func mapX509Error(err error, now time.Time) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			if inv.Cert != nil && now.Before(inv.Cert.NotBefore) {
				return fmt.Errorf("%w: %s notBefore %s (now %s)", ErrNotYetValid, describeCert(inv.Cert), stamp(inv.Cert.NotBefore), stamp(now))
			}
			if inv.Cert != nil {
				return fmt.Errorf("%w: %s notAfter %s (now %s)", ErrExpired, describeCert(inv.Cert), stamp(inv.Cert.NotAfter), stamp(now))
			}
			return fmt.Errorf("%w: %v", ErrExpired, err)
		case x509.TooManyIntermediates:
			return fmt.Errorf("%w: %v", ErrChainTooLong, err)
		case x509.IncompatibleUsage:
			return fmt.Errorf("%w: %v", ErrWrongRole, err)
		}
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return fmt.Errorf("%w: %v", ErrUnknownRoot, err)
	}
	var ce x509.ConstraintViolationError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return fmt.Errorf("%w: %v", ErrUnknownRoot, err)
}

// describeCert names a certificate in messages: "zone CA acme",
// "supernode 12D3Koo… of zone acme", "root CA patchnet root".
func describeCert(c *x509.Certificate) string {
	mem, err := MembershipOf(c)
	switch {
	case err == nil && c.IsCA:
		return "zone CA " + mem.Zone
	case err == nil:
		return fmt.Sprintf("%s %s of zone %s", rolesString(mem.Roles), nameOf(c), mem.Zone)
	case c.IsCA && string(c.RawIssuer) == string(c.RawSubject):
		return "root CA " + nameOf(c)
	case c.IsCA:
		return "CA " + nameOf(c)
	}
	return "certificate " + nameOf(c)
}

// nameOf is a certificate's common name, or its whole subject.
func nameOf(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

// clone copies the identity's role slice so callers cannot alter a cached
// verdict.
func (id Identity) clone() Identity {
	id.Roles = slices.Clone(id.Roles)
	return id
}

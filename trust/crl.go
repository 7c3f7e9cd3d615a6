package trust

import (
	"cmp"
	"crypto/x509"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// crlInfo is the newest CRL the verifier holds from one CA.
type crlInfo struct {
	der        []byte
	issuer     *caInfo
	number     *big.Int
	thisUpdate time.Time
	nextUpdate time.Time
	revoked    map[string]x509.RevocationListEntry // by serial (big-endian bytes)
}

// ParseCRL decodes a DER CRL with the bounds and fields patchnet requires: a
// CRL number and a nextUpdate (without one a CRL can never go stale, and
// fail-closed needs it to). It does not check the signature.
func ParseCRL(der []byte) (*x509.RevocationList, error) {
	if len(der) > MaxCRLBytes {
		return nil, fmt.Errorf("%w: CRL is %d bytes (limit %d)", ErrOversized, len(der), MaxCRLBytes)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing CRL: %v", ErrMalformed, err)
	}
	if crl.Number == nil {
		return nil, fmt.Errorf("%w: CRL has no CRL number", ErrMalformed)
	}
	if crl.NextUpdate.IsZero() {
		return nil, fmt.Errorf("%w: CRL has no nextUpdate", ErrMalformed)
	}
	return crl, nil
}

// AddCRL offers a CRL (DER) signed by a pinned root or a known zone CA. The
// newest CRL number per issuer wins: an older or equal one returns (false,
// nil), a newer one replaces it, drops cached verdicts that depended on that
// issuer, and returns (true, nil). A CRL past its nextUpdate is still
// accepted (it still lists revocations); verification then fails with
// ErrStaleCRL until a fresher one arrives.
func (v *Verifier) AddCRL(der []byte) (changed bool, err error) {
	crl, err := ParseCRL(der)
	if err != nil {
		return false, fmt.Errorf("adding CRL: %w", err)
	}
	issuer, err := v.crlIssuer(crl)
	if err != nil {
		return false, fmt.Errorf("adding CRL: %w", err)
	}
	info := &crlInfo{
		der: slices.Clone(der), issuer: issuer, number: crl.Number,
		thisUpdate: crl.ThisUpdate, nextUpdate: crl.NextUpdate,
		revoked: make(map[string]x509.RevocationListEntry, len(crl.RevokedCertificateEntries)),
	}
	for _, e := range crl.RevokedCertificateEntries {
		info.revoked[string(e.SerialNumber.Bytes())] = e
	}
	v.mu.Lock()
	old := v.crls[issuer.fp]
	if old != nil && old.number.Cmp(info.number) >= 0 {
		v.mu.Unlock()
		return false, nil
	}
	v.crls[issuer.fp] = info
	v.mu.Unlock()
	v.cache.invalidateIssuer(issuer.fp)
	return true, nil
}

// crlIssuer finds the pinned root or known zone CA that signed crl.
func (v *Verifier) crlIssuer(crl *x509.RevocationList) (*caInfo, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var candidates int
	for _, ca := range v.allCAsLocked() {
		if string(ca.cert.RawSubject) != string(crl.RawIssuer) {
			continue
		}
		candidates++
		if crl.CheckSignatureFrom(ca.cert) == nil {
			return ca, nil
		}
	}
	if candidates > 0 {
		return nil, fmt.Errorf("%w: CRL signature does not verify with the CA named %q", ErrBadSignature, crl.Issuer)
	}
	return nil, fmt.Errorf("%w: CRL issuer %q is neither a pinned root nor a known zone CA", ErrUnknownIssuer, crl.Issuer)
}

// CRLs returns the newest CRL per issuer (DER), for relaying to peers and for
// catch-up, ordered by issuer fingerprint.
func (v *Verifier) CRLs() [][]byte {
	v.mu.RLock()
	defer v.mu.RUnlock()
	keys := make([]Fingerprint, 0, len(v.crls))
	for k := range v.crls {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Fingerprint) int { return slices.Compare(a[:], b[:]) })
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = slices.Clone(v.crls[k].der)
	}
	return out
}

// CRLStatus describes the CRL held for one issuer.
type CRLStatus struct {
	Issuer     string
	Number     *big.Int
	ThisUpdate time.Time
	NextUpdate time.Time
	Revoked    int
}

// CRLStatuses summarises the CRLs held, one per issuer, for status output.
func (v *Verifier) CRLStatuses() []CRLStatus {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []CRLStatus
	for _, c := range v.crls {
		out = append(out, CRLStatus{
			Issuer: c.issuer.name, Number: new(big.Int).Set(c.number),
			ThisUpdate: c.thisUpdate, NextUpdate: c.nextUpdate, Revoked: len(c.revoked),
		})
	}
	slices.SortFunc(out, func(a, b CRLStatus) int { return cmp.Compare(a.Issuer, b.Issuer) })
	return out
}

// checkRevocation checks cert (issued by issuer) against issuer's CRL at now.
// It returns the CRL's nextUpdate (zero if there is none) so the caller can
// bound how long its verdict may be cached.
func (v *Verifier) checkRevocation(cert *x509.Certificate, issuer *caInfo, now time.Time) (time.Time, error) {
	v.mu.RLock()
	crl := v.crls[issuer.fp]
	v.mu.RUnlock()
	if crl == nil {
		if v.cfg.RequireCRL {
			return time.Time{}, fmt.Errorf("%w: no CRL from %s held yet and RequireCRL is set", ErrStaleCRL, issuer.name)
		}
		return time.Time{}, nil
	}
	if !now.Before(crl.nextUpdate) {
		return time.Time{}, fmt.Errorf("%w: CRL %s from %s expired at %s (now %s); fail closed until a fresh one arrives",
			ErrStaleCRL, crl.number, issuer.name, stamp(crl.nextUpdate), stamp(now))
	}
	if e, ok := crl.revoked[string(cert.SerialNumber.Bytes())]; ok {
		what := ""
		if cert.IsCA {
			what = describeCert(cert) + " " // the caller names the leaf, not its CA
		}
		return time.Time{}, fmt.Errorf("%s%w by %s at %s (serial %#x%s)",
			what, ErrRevoked, issuer.name, stamp(e.RevocationTime), cert.SerialNumber, reasonSuffix(e.ReasonCode))
	}
	return crl.nextUpdate, nil
}

// stamp formats a time for error messages.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ReasonNames maps RFC 5280 revocation reason codes to their names.
var ReasonNames = map[int]string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL",
	9: "privilegeWithdrawn", 10: "aACompromise",
}

func reasonSuffix(code int) string {
	if code == 0 {
		return ""
	}
	if n, ok := ReasonNames[code]; ok {
		return ", reason " + n
	}
	return fmt.Sprintf(", reason %d", code)
}

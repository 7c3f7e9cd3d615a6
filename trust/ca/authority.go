package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// Authority is a CA certificate with its private key: the in-memory issuer
// that the on-disk CA and trusttest both use, so certificates have one
// template whatever issues them.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Validity is a certificate's notBefore/notAfter window.
type Validity struct {
	NotBefore time.Time
	NotAfter  time.Time
}

// ValidityFrom is a window starting Backdate before now and lasting days.
func ValidityFrom(now time.Time, days int) Validity {
	return Validity{NotBefore: now.Add(-Backdate).UTC(), NotAfter: now.AddDate(0, 0, days).UTC()}
}

// NewSerial is a random positive 128-bit serial number.
func NewSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), SerialBits))
		if err != nil {
			return nil, fmt.Errorf("drawing serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// NewRoot self-signs a root CA certificate for key. Path length 1: the root
// signs zone CAs, zone CAs sign leaves, nothing deeper.
func NewRoot(key crypto.Signer, name string, v Validity) (*Authority, error) {
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"patchnet"}},
		NotBefore:             v.NotBefore,
		NotAfter:              v.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	cert, err := create(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating root CA %q: %w", name, err)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// NewZone issues a zone CA certificate for pub, signed by root a: path
// length 0, the zone in the subject ("zone <name>") and in patchnet's
// extension, which also lists the roles the zone CA may grant.
func (a *Authority) NewZone(pub crypto.PublicKey, zone string, roles []trust.Role, v Validity) (*x509.Certificate, error) {
	ext, err := trust.Membership{Zone: zone, Roles: roles}.Extension()
	if err != nil {
		return nil, fmt.Errorf("issuing zone CA: %w", err)
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "zone " + zone, Organization: a.Cert.Subject.Organization},
		NotBefore:             v.NotBefore,
		NotAfter:              v.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		ExtraExtensions:       []pkix.Extension{ext},
	}
	if err := a.checkWithin(v); err != nil {
		return nil, fmt.Errorf("issuing zone CA %s: %w", zone, err)
	}
	cert, err := create(tmpl, a.Cert, pub, a.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing zone CA %s: %w", zone, err)
	}
	return cert, nil
}

// NewLeaf issues a node certificate for pub with membership m, signed by
// zone CA a. The subject and the one URI SAN name pub's peer ID.
func (a *Authority) NewLeaf(pub crypto.PublicKey, m trust.Membership, v Validity) (*x509.Certificate, error) {
	ext, err := m.Extension()
	if err != nil {
		return nil, fmt.Errorf("issuing node certificate: %w", err)
	}
	if own, err := trust.MembershipOf(a.Cert); err != nil || own.Zone != m.Zone {
		return nil, fmt.Errorf("issuing node certificate: %s may not issue for zone %q", a.Cert.Subject.CommonName, m.Zone)
	}
	pid, err := trust.PeerIDFromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("issuing node certificate: %w", err)
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: pid.String(), OrganizationalUnit: []string{m.Zone}},
		NotBefore:             v.NotBefore,
		NotAfter:              v.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{{Scheme: trust.PeerURIScheme, Opaque: pid.String()}},
		ExtraExtensions:       []pkix.Extension{ext},
	}
	if err := a.checkWithin(v); err != nil {
		return nil, fmt.Errorf("issuing node certificate for %s: %w", pid, err)
	}
	cert, err := create(tmpl, a.Cert, pub, a.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing node certificate for %s: %w", pid, err)
	}
	return cert, nil
}

// NewCRL signs an RFC 5280 CRL listing entries, with CRL number number and
// the given thisUpdate/nextUpdate.
func (a *Authority) NewCRL(entries []x509.RevocationListEntry, number *big.Int, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	if !nextUpdate.After(thisUpdate) {
		return nil, errors.New("issuing CRL: nextUpdate must be after thisUpdate")
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                thisUpdate.UTC(),
		NextUpdate:                nextUpdate.UTC(),
		RevokedCertificateEntries: entries,
	}, a.Cert, a.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing CRL: %w", err)
	}
	return der, nil
}

// checkWithin refuses a validity window extending past the issuer's own.
func (a *Authority) checkWithin(v Validity) error {
	if !v.NotAfter.After(v.NotBefore) {
		return errors.New("notAfter must be after notBefore")
	}
	if v.NotAfter.After(a.Cert.NotAfter) {
		return fmt.Errorf("requested notAfter %s is after the issuing CA's notAfter %s",
			v.NotAfter.UTC().Format(time.RFC3339), a.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// create signs tmpl and re-parses the result, so callers get a certificate
// exactly as a verifier will see it.
func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// CreateCertificate signs an arbitrary template with a. It exists for tests
// that need certificates patchnet would never issue (attacks, odd shapes).
func (a *Authority) CreateCertificate(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	return create(tmpl, a.Cert, pub, a.Key)
}

package ca

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/trust"
)

// File names a node's request writes.
const (
	NodeKeyFile  = "node.key"
	NodeCSRFile  = "node.csr"
	NodeCertFile = "node.crt"
)

// RequestOptions shape a node's key and certificate request.
type RequestOptions struct {
	Role    trust.Role
	Zone    string
	KeyType trust.KeyAlgorithm // default ed25519
}

// Request writes a fresh key (node.key, 0600) and a request for it
// (node.csr, PEM) into dir, refusing to overwrite either. The key is the
// node's libp2p identity; only the request leaves the machine.
func Request(dir string, o RequestOptions) (keyPath, csrPath string, err error) {
	if !o.Role.Valid() {
		return "", "", fmt.Errorf("requesting certificate: unknown role %q (want agent, supernode or publisher)", o.Role)
	}
	if err := trust.ValidateZoneName(o.Zone); err != nil {
		return "", "", fmt.Errorf("requesting certificate: %w", err)
	}
	if err := prepareDir(dir, NodeKeyFile, NodeCSRFile); err != nil {
		return "", "", fmt.Errorf("requesting certificate: %w", err)
	}
	key, err := trust.GenerateKey(o.KeyType)
	if err != nil {
		return "", "", err
	}
	csr, err := trust.NewCSR(key, o.Role, o.Zone)
	if err != nil {
		return "", "", err
	}
	keyPath, csrPath = filepath.Join(dir, NodeKeyFile), filepath.Join(dir, NodeCSRFile)
	if err := trust.WriteKeyFile(keyPath, key); err != nil {
		return "", "", err
	}
	if err := writeNew(csrPath, trust.EncodeCSRPEM(csr), 0o644); err != nil {
		return "", "", err
	}
	return keyPath, csrPath, nil
}

// SignFile signs the request at csrPath with the zone CA in caDir and writes
// node.crt beside the request: the leaf, then the zone CA certificate.
func SignFile(caDir, csrPath string, o SignOptions) (certPath string, leaf *x509.Certificate, err error) {
	c, err := Open(caDir)
	if err != nil {
		return "", nil, err
	}
	csr, err := os.ReadFile(csrPath)
	if err != nil {
		return "", nil, fmt.Errorf("reading request: %w", err)
	}
	leaf, err = c.SignCSR(csr, o)
	if err != nil {
		return "", nil, err
	}
	certPath = filepath.Join(filepath.Dir(csrPath), NodeCertFile)
	if err := fsutil.WriteFileAtomic(certPath, trust.EncodeCertificatesPEM(leaf, c.Cert), 0o644); err != nil {
		return "", nil, fmt.Errorf("writing certificate: %w", err)
	}
	return certPath, leaf, nil
}

// RevokeFile records the certificate in certPath (its first certificate) as
// revoked by the CA in caDir. The next CRL lists it.
func RevokeFile(caDir, certPath string, reason Reason) (*x509.Certificate, error) {
	c, err := Open(caDir)
	if err != nil {
		return nil, err
	}
	certs, err := trust.ReadCertificatesFile(certPath)
	if err != nil {
		return nil, err
	}
	if err := c.Revoke(certs[0], reason); err != nil {
		return nil, err
	}
	return certs[0], nil
}

// CRLFile issues the next CRL of the CA in caDir, fresh for days, and
// returns where it was written.
func CRLFile(caDir string, days int) (string, *x509.RevocationList, error) {
	days, err := checkDays("--days", days, DefaultCRLDays, MaxCRLDays)
	if err != nil {
		return "", nil, fmt.Errorf("issuing CRL: %w", err)
	}
	c, err := Open(caDir)
	if err != nil {
		return "", nil, err
	}
	der, err := c.IssueCRL(time.Duration(days) * 24 * time.Hour)
	if err != nil {
		return "", nil, err
	}
	crl, err := trust.ParseCRL(der)
	if err != nil {
		return "", nil, err
	}
	return c.CRLPath(), crl, nil
}

// VerifyOptions say what to verify a certificate file against.
type VerifyOptions struct {
	Roots      []string // root certificate files to pin
	CRLs       []string // CRL files (PEM or DER)
	RequireCRL bool     // fail when the zone CA has no CRL among CRLs
	Clock      trust.Clock
}

// VerifyFile verifies the certificate file certPath (leaf, then optionally
// its zone CA) against pinned roots and CRLs, exactly as an agent would.
func VerifyFile(certPath string, o VerifyOptions) (trust.Identity, error) {
	cfg := trust.DefaultVerifierConfig()
	cfg.RequireCRL = o.RequireCRL
	if o.Clock != nil {
		cfg.Clock = o.Clock
	}
	for _, r := range o.Roots {
		certs, err := trust.ReadCertificatesFile(r)
		if err != nil {
			return trust.Identity{}, err
		}
		cfg.Roots = append(cfg.Roots, certs...)
	}
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		return trust.Identity{}, err
	}
	certs, err := trust.ReadCertificatesFile(certPath)
	if err != nil {
		return trust.Identity{}, err
	}
	// The zone CA must be known before its CRL can be checked.
	if err := v.AddIntermediates(certs[1:]...); err != nil {
		return trust.Identity{}, err
	}
	for _, path := range o.CRLs {
		der, err := trust.ReadCRLFile(path)
		if err != nil {
			return trust.Identity{}, err
		}
		if _, err := v.AddCRL(der); err != nil {
			return trust.Identity{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	return v.VerifyChain(certs[0], certs[1:])
}

// Describe summarises a certificate for humans: what it is, zone, roles,
// peer ID, validity, fingerprint. It never touches private keys.
func Describe(c *x509.Certificate) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-12s %s\n", k+":", v) }
	m, memErr := trust.MembershipOf(c)
	line("kind", certKind(c, memErr == nil))
	line("subject", c.Subject.String())
	line("issuer", c.Issuer.String())
	if memErr == nil {
		line("zone", m.Zone)
		line("roles", rolesList(m.Roles))
	}
	if !c.IsCA {
		if pid, err := trust.PeerIDFromPublicKey(c.PublicKey); err == nil {
			line("peer ID", pid.String())
		}
	}
	if alg, err := trust.AlgorithmOf(c.PublicKey); err == nil {
		line("key", string(alg))
	}
	line("serial", fmt.Sprintf("%#x", c.SerialNumber))
	line("not before", c.NotBefore.UTC().Format(time.RFC3339))
	line("not after", c.NotAfter.UTC().Format(time.RFC3339))
	line("fingerprint", trust.FingerprintOf(c).String())
	return b.String()
}

// certKind names what sort of certificate c is.
func certKind(c *x509.Certificate, member bool) string {
	switch {
	case c.IsCA && string(c.RawIssuer) == string(c.RawSubject):
		return "root CA certificate"
	case c.IsCA && member:
		return "zone CA certificate"
	case c.IsCA:
		return "CA certificate"
	case member:
		return "node certificate"
	}
	return "certificate (not patchnet's: no membership extension)"
}

func rolesList(roles []trust.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

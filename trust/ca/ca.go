package ca

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/trust"
)

// File names inside CA directories.
const (
	RootCertFile = "root.crt"
	RootKeyFile  = "root.key"
	RootCRLFile  = "root.crl"
	ZoneCertFile = "zone.crt"
	ZoneKeyFile  = "zone.key"
	ZoneCRLFile  = "zone.crl"
)

// CA is a root or zone CA kept in a directory.
type CA struct {
	// Dir is the CA's directory.
	Dir string
	// Authority is the CA's certificate and key.
	Authority
	// State is the issued/revoked record as last loaded or saved.
	State State

	clock trust.Clock
}

// Open loads the CA in dir: a root (root.crt) or a zone (zone.crt). Its
// clock is the system clock; see WithClock.
func Open(dir string) (*CA, error) {
	s, err := loadState(dir)
	if err != nil {
		return nil, fmt.Errorf("opening CA %s: %w", dir, err)
	}
	certFile, keyFile := files(s.Kind)
	certs, err := trust.ReadCertificatesFile(filepath.Join(dir, certFile))
	if err != nil {
		return nil, fmt.Errorf("opening CA %s: %w", dir, err)
	}
	key, err := trust.ReadKeyFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("opening CA %s: %w", dir, err)
	}
	if pub, ok := certs[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("opening CA %s: %s does not hold the public key of %s", dir, certFile, keyFile)
	}
	return &CA{Dir: dir, Authority: Authority{Cert: certs[0], Key: key}, State: s, clock: trust.SystemClock{}}, nil
}

// WithClock makes the CA read time from clock (tests); it returns c.
func (c *CA) WithClock(clock trust.Clock) *CA {
	c.clock = clock
	return c
}

// files are the certificate and key file names for a kind of CA.
func files(k Kind) (cert, key string) {
	if k == KindRoot {
		return RootCertFile, RootKeyFile
	}
	return ZoneCertFile, ZoneKeyFile
}

// CRLPath is where IssueCRL writes this CA's CRL.
func (c *CA) CRLPath() string {
	if c.State.Kind == KindRoot {
		return filepath.Join(c.Dir, RootCRLFile)
	}
	return filepath.Join(c.Dir, ZoneCRLFile)
}

// Name is "root CA <CN>" or "zone CA <zone>".
func (c *CA) Name() string {
	if c.State.Kind == KindRoot {
		return "root CA " + c.Cert.Subject.CommonName
	}
	return "zone CA " + c.State.Zone
}

// update runs fn on freshly loaded state under the directory lock and saves
// the result, so concurrent commands never lose each other's records.
func (c *CA) update(fn func(*State) error) error {
	unlock, err := lockDir(c.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := loadState(c.Dir)
	if err != nil {
		return err
	}
	if err := fn(&s); err != nil {
		return err
	}
	if err := saveState(c.Dir, s); err != nil {
		return err
	}
	c.State = s
	return nil
}

// SignOptions shape a node certificate signed from a request.
type SignOptions struct {
	// Days is the certificate's lifetime; 0 means DefaultLeafDays (365),
	// at most MaxLeafDays (825).
	Days int
}

// SignCSR issues a node certificate for a request, after checking its
// signature and peer ID (trust.ParseCSR), that it asks for this CA's zone
// and only roles this CA may grant, and the validity asked.
func (c *CA) SignCSR(csr []byte, o SignOptions) (*x509.Certificate, error) {
	if c.State.Kind != KindZone {
		return nil, errors.New("signing request: a root CA signs zone CAs only (use ca init-zone); sign node requests with a zone CA")
	}
	req, err := trust.ParseCSR(csr)
	if err != nil {
		return nil, fmt.Errorf("signing request: %w", err)
	}
	if err := c.checkRequest(req); err != nil {
		return nil, fmt.Errorf("signing request for %s: %w", req.PeerID, err)
	}
	days, err := checkDays("--days", o.Days, DefaultLeafDays, MaxLeafDays)
	if err != nil {
		return nil, fmt.Errorf("signing request: %w", err)
	}
	leaf, err := c.NewLeaf(req.Request.PublicKey, req.Membership, ValidityFrom(c.clock.Now(), days))
	if err != nil {
		return nil, err
	}
	err = c.update(func(s *State) error {
		s.Issued = append(s.Issued, record(leaf))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recording certificate %x: %w", leaf.SerialNumber, err)
	}
	return leaf, nil
}

// checkRequest applies this CA's policy to a parsed request.
func (c *CA) checkRequest(req *trust.CertificateRequest) error {
	if req.Membership.Zone != c.State.Zone {
		return fmt.Errorf("request asks for zone %q but this CA issues for zone %q", req.Membership.Zone, c.State.Zone)
	}
	for _, r := range req.Membership.Roles {
		if !slices.Contains(c.State.Roles, r) {
			return fmt.Errorf("request asks for role %s; zone CA %s may grant only %v", r, c.State.Zone, c.State.Roles)
		}
	}
	return nil
}

// checkDays applies a default and bounds to a lifetime in days.
func checkDays(flag string, days, def, maxDays int) (int, error) {
	if days == 0 {
		return def, nil
	}
	if days < 0 || days > maxDays {
		return 0, fmt.Errorf("%s %d out of range 1..%d", flag, days, maxDays)
	}
	return days, nil
}

// Revoke records cert, which this CA must have issued, as revoked for
// reason. It takes effect in the next CRL (IssueCRL). Revoking twice is not
// an error and keeps the first record.
func (c *CA) Revoke(cert *x509.Certificate, reason Reason) error {
	if err := cert.CheckSignatureFrom(c.Cert); err != nil {
		return fmt.Errorf("revoking %x: not issued by %s: %w", cert.SerialNumber, c.Name(), err)
	}
	now := c.clock.Now().UTC().Truncate(time.Second)
	return c.update(func(s *State) error {
		serial := serialHex(cert)
		for _, r := range s.Revoked {
			if r.Serial == serial {
				return nil
			}
		}
		s.Revoked = append(s.Revoked, RevokedCert{Serial: serial, RevokedAt: now, Reason: reason})
		return nil
	})
}

// IssueCRL signs the next CRL (number + 1) listing every revocation, fresh
// for validity, writes it as PEM to CRLPath and returns the DER.
func (c *CA) IssueCRL(validity time.Duration) ([]byte, error) {
	if validity <= 0 || validity > MaxCRLDays*24*time.Hour {
		return nil, fmt.Errorf("issuing CRL: validity %s out of range (0, %d days]", validity, MaxCRLDays)
	}
	now := c.clock.Now()
	var der []byte
	err := c.update(func(s *State) error {
		entries, err := revocationEntries(s.Revoked)
		if err != nil {
			return err
		}
		s.CRLNumber++
		der, err = c.NewCRL(entries, big.NewInt(s.CRLNumber), now.Add(-Backdate), now.Add(validity))
		if err != nil {
			return err
		}
		return fsutil.WriteFileAtomic(c.CRLPath(), trust.EncodeCRLPEM(der), 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("issuing CRL for %s: %w", c.Name(), err)
	}
	return der, nil
}

// revocationEntries converts the state's records to CRL entries.
func revocationEntries(revoked []RevokedCert) ([]x509.RevocationListEntry, error) {
	out := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		n, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("state.json: bad serial %q", r.Serial)
		}
		out = append(out, x509.RevocationListEntry{SerialNumber: n, RevocationTime: r.RevokedAt, ReasonCode: int(r.Reason)})
	}
	return out, nil
}

// writeNew writes a file that must not exist yet: CA material is never
// silently overwritten.
func writeNew(path string, data []byte, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite it", path)
	}
	return fsutil.WriteFileAtomic(path, data, perm)
}

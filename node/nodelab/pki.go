package nodelab

import (
	"fmt"
	"path/filepath"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// pki is the zone's certificate files.
type pki struct {
	rootDir, zoneDir string
}

// newPKI creates a zone CA under dir, as `patchnet ca init-zone` would,
// under the root CA in root, or (root empty) under a new one it creates
// in dir as `patchnet ca init-root` would.
func newPKI(dir, zone, root string) (*pki, error) {
	p := &pki{rootDir: root, zoneDir: filepath.Join(dir, "pki", "zone")}
	if root == "" {
		p.rootDir = filepath.Join(dir, "pki", "root")
		if _, err := ca.InitRoot(p.rootDir, ca.DefaultRootOptions()); err != nil {
			return nil, fmt.Errorf("creating root CA: %w", err)
		}
	}
	if _, err := ca.InitZone(p.rootDir, zone, p.zoneDir, ca.DefaultZoneOptions()); err != nil {
		return nil, fmt.Errorf("creating zone CA: %w", err)
	}
	return p, nil
}

// crls are the zone CA's and the root's CRL files.
func (p *pki) crls() []string {
	return []string{filepath.Join(p.zoneDir, ca.ZoneCRLFile), filepath.Join(p.rootDir, ca.RootCRLFile)}
}

// RootDir is the lab's root CA directory (Options.Root for another lab
// under the same root).
func (l *Lab) RootDir() string { return l.pki.rootDir }

// rootCert is the path of the root certificate every node pins.
func (p *pki) rootCert() string { return filepath.Join(p.rootDir, ca.RootCertFile) }

// issue writes node.key and node.crt for role into dir, as `patchnet cert
// request` and `patchnet ca sign` would.
func (p *pki) issue(dir, zone string, role trust.Role) (keyPath, certPath string, err error) {
	keyPath, csrPath, err := ca.Request(dir, ca.RequestOptions{Role: role, Zone: zone})
	if err != nil {
		return "", "", fmt.Errorf("requesting a certificate of role %s: %w", role, err)
	}
	certPath, _, err = ca.SignFile(p.zoneDir, csrPath, ca.SignOptions{})
	if err != nil {
		return "", "", fmt.Errorf("signing a certificate of role %s: %w", role, err)
	}
	return keyPath, certPath, nil
}

// Revoke revokes m's certificate with the zone CA, as `patchnet ca revoke`
// and `patchnet ca crl` would, and returns the new CRL (DER).
func (l *Lab) Revoke(m *Member) ([]byte, error) {
	if _, err := ca.RevokeFile(l.pki.zoneDir, m.CrtPath, ca.ReasonUnspecified); err != nil {
		return nil, fmt.Errorf("revoking %s: %w", m.Name, err)
	}
	path, _, err := ca.CRLFile(l.pki.zoneDir, 0)
	if err != nil {
		return nil, err
	}
	return trust.ReadCRLFile(path)
}

package ca

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/trust"
)

// Kind says whether a CA directory holds a root or a zone CA.
type Kind string

// The two kinds of CA directory.
const (
	KindRoot Kind = "root"
	KindZone Kind = "zone"
)

// State is a CA's on-disk record (state.json).
type State struct {
	Kind Kind `json:"kind"`
	// Zone is the zone a zone CA issues for (empty for a root).
	Zone string `json:"zone,omitempty"`
	// Roles are the roles a zone CA may grant.
	Roles []trust.Role `json:"roles,omitempty"`
	// CRLNumber is the number of the last CRL issued (0: none yet).
	CRLNumber int64 `json:"crl_number"`
	// Issued lists every certificate this CA signed.
	Issued []IssuedCert `json:"issued"`
	// Revoked lists the revoked serials.
	Revoked []RevokedCert `json:"revoked"`
}

// IssuedCert records one certificate a CA signed.
type IssuedCert struct {
	Serial      string       `json:"serial"` // hex
	Subject     string       `json:"subject"`
	PeerID      string       `json:"peer_id,omitempty"`
	Zone        string       `json:"zone,omitempty"`
	Roles       []trust.Role `json:"roles,omitempty"`
	NotAfter    time.Time    `json:"not_after"`
	Fingerprint string       `json:"fingerprint"`
}

// RevokedCert records one revocation.
type RevokedCert struct {
	Serial    string    `json:"serial"` // hex
	RevokedAt time.Time `json:"revoked_at"`
	Reason    Reason    `json:"reason"`
}

// serialHex is how state.json writes serial numbers.
func serialHex(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }

// record makes the IssuedCert entry for c.
func record(c *x509.Certificate) IssuedCert {
	ic := IssuedCert{
		Serial: serialHex(c), Subject: c.Subject.String(), NotAfter: c.NotAfter.UTC(),
		Fingerprint: trust.FingerprintOf(c).String(),
	}
	if m, err := trust.MembershipOf(c); err == nil {
		ic.Zone, ic.Roles = m.Zone, m.Roles
	}
	if !c.IsCA {
		if pid, err := trust.PeerIDFromPublicKey(c.PublicKey); err == nil {
			ic.PeerID = pid.String()
		}
	}
	return ic
}

const stateFile = "state.json"

// loadState reads dir/state.json.
func loadState(dir string) (State, error) {
	var s State
	path := filepath.Join(dir, stateFile)
	data, err := fsutil.ReadFile(path, MaxStateBytes)
	if err != nil {
		return s, fmt.Errorf("reading CA state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("reading CA state %s: %w", path, err)
	}
	if s.Kind != KindRoot && s.Kind != KindZone {
		return s, fmt.Errorf("reading CA state %s: unknown kind %q", path, s.Kind)
	}
	return s, nil
}

// saveState writes dir/state.json atomically.
func saveState(dir string, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding CA state: %w", err)
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, stateFile), append(data, '\n'), 0o600)
}

package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Role is what a certificate lets its holder do in a zone.
type Role string

// The roles patchnet knows. A certificate may carry several.
const (
	// RoleAgent runs on a host and installs verified updates.
	RoleAgent Role = "agent"
	// RoleSupernode verifies updates independently and co-signs them.
	RoleSupernode Role = "supernode"
	// RolePublisher authors announcements.
	RolePublisher Role = "publisher"
)

// AllRoles lists every role, in a stable order.
var AllRoles = []Role{RoleAgent, RoleSupernode, RolePublisher}

// ParseRole checks a user-supplied role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("unknown role %q (want agent, supernode or publisher)", s)
	}
	return r, nil
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return slices.Contains(AllRoles, r) }

// Fingerprint is the SHA-256 of a certificate's DER encoding: how roots are
// pinned and how envelope signatures name their signer.
type Fingerprint [32]byte

// FingerprintOf is cert's fingerprint.
func FingerprintOf(cert *x509.Certificate) Fingerprint { return sha256.Sum256(cert.Raw) }

// fingerprintDER is the fingerprint of a DER certificate.
func fingerprintDER(der []byte) Fingerprint { return sha256.Sum256(der) }

// ParseFingerprint reads a hex fingerprint, with or without colons
// ("ab:cd:…" as openssl prints it), in either case.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	clean := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if len(clean) != 2*len(f) {
		return f, fmt.Errorf("parsing fingerprint %q: want %d hex digits, got %d", s, 2*len(f), len(clean))
	}
	if _, err := hex.Decode(f[:], []byte(clean)); err != nil {
		return f, fmt.Errorf("parsing fingerprint %q: %w", s, err)
	}
	return f, nil
}

// String is the fingerprint in lowercase hex without separators.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// Short is the first 8 bytes in hex, for log lines and messages.
func (f Fingerprint) Short() string { return hex.EncodeToString(f[:8]) }

// Identity is what a verified certificate chain says about its holder. It
// exists only as the result of a successful verification.
type Identity struct {
	// Fingerprint is the SHA-256 of the leaf certificate.
	Fingerprint Fingerprint
	// PeerID is derived from the leaf's public key (and equals its URI SAN).
	PeerID peer.ID
	// Zone is the zone named by the leaf and its zone CA.
	Zone string
	// Roles are the roles the leaf carries.
	Roles []Role
	// Subject is the leaf's subject, for humans.
	Subject string
	// NotAfter is the leaf's expiry.
	NotAfter time.Time
	// Certificate is the verified leaf.
	Certificate *x509.Certificate
}

// HasRole reports whether the identity carries role r.
func (id Identity) HasRole(r Role) bool { return slices.Contains(id.Roles, r) }

// Check returns ErrWrongRole or ErrWrongZone, naming both sides, unless the
// identity carries role in zone. An empty zone matches any zone.
func (id Identity) Check(role Role, zone string) error {
	if zone != "" && id.Zone != zone {
		return fmt.Errorf("%w: %s belongs to zone %q, not %q", ErrWrongZone, id.PeerID, id.Zone, zone)
	}
	if !id.HasRole(role) {
		return fmt.Errorf("%w: %s has roles %s, not %s", ErrWrongRole, id.PeerID, rolesString(id.Roles), role)
	}
	return nil
}

// String summarises the identity for humans.
func (id Identity) String() string {
	return fmt.Sprintf("%s of zone %s (peer %s)", rolesString(id.Roles), id.Zone, id.PeerID)
}

func rolesString(roles []Role) string {
	if len(roles) == 0 {
		return "(none)"
	}
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, "+")
}

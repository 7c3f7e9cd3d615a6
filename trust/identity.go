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
	// Zone is the zone named by the leaf and its zone CA. A name alone is
	// not an identity: use ZoneRef, which binds it to Root.
	Zone string
	// ZoneCA is the fingerprint of the zone CA that issued the leaf.
	ZoneCA Fingerprint
	// Root is the fingerprint of the pinned root the chain ends at: the
	// organisation that owns the zone.
	Root Fingerprint
	// CRLCurrent is true when a current CRL of both the zone CA and the
	// root was held when the chain was verified, so the verdict on
	// revocation is positive knowledge, not absence of news.
	CRLCurrent bool
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

// Holds reports whether the identity carries role in zone, as Check does
// but without building an error: the cheap test for hot paths.
func (id Identity) Holds(role Role, zone Zone) bool {
	return id.HasRole(role) && (zone.IsZero() || id.Zone == zone.Name && zone.Root != Fingerprint{} && id.Root == zone.Root)
}

// ZoneRef is the zone the identity belongs to, bound to its root.
func (id Identity) ZoneRef() Zone { return Zone{Name: id.Zone, Root: id.Root} }

// Check returns ErrWrongRole or ErrWrongZone, naming both sides, unless the
// identity carries role in zone: the same zone name under the same pinned
// root. A zone of the same name under another root (a federated partner's)
// is another zone. The zero Zone matches any zone; a named zone bound to no
// root matches none (fail closed).
func (id Identity) Check(role Role, zone Zone) error {
	if err := zone.admits(id); err != nil {
		return err
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

// Zone is a zone as an identity: its name and the pinned root its zone CA
// chains to. Names are chosen by each organisation, so two federated roots
// may both have a zone "acme"; only the pair says whose it is.
type Zone struct {
	Name string
	Root Fingerprint
}

// IsZero reports whether z is the zero Zone, which matches any zone.
func (z Zone) IsZero() bool { return z == Zone{} }

// String names the zone and its root for messages: "acme (root 1a2b…)".
func (z Zone) String() string {
	if z.IsZero() {
		return "any zone"
	}
	return fmt.Sprintf("%s (root %s)", z.Name, z.Root.Short())
}

// admits fails with ErrWrongZone unless id belongs to z.
func (z Zone) admits(id Identity) error {
	switch {
	case z.IsZero():
		return nil
	case id.Zone != z.Name:
		return fmt.Errorf("%w: %s belongs to zone %q, not %q", ErrWrongZone, id.PeerID, id.Zone, z.Name)
	case z.Root == Fingerprint{}:
		return fmt.Errorf("%w: zone %q is bound to no root", ErrWrongZone, z.Name)
	case id.Root != z.Root:
		return fmt.Errorf("%w: %s belongs to a zone %q under root %s, not ours under root %s (a federated zone of the same name)",
			ErrWrongZone, id.PeerID, id.Zone, id.Root.Short(), z.Root.Short())
	}
	return nil
}

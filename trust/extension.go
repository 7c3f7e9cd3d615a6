package trust

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"slices"
)

// OIDArc is patchnet's private OID arc. 99999 is a PLACEHOLDER private
// enterprise number (not registered with IANA); see doc.go.
var OIDArc = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}

// OIDMembership identifies patchnet's membership extension (zone and roles).
var OIDMembership = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1}

// Membership is the content of patchnet's extension. In a leaf it says which
// zone the holder belongs to and what roles it has; in a zone CA it names the
// zone and the roles the CA may grant.
//
// DER: SEQUENCE { zone UTF8String, roles SEQUENCE OF ENUMERATED }, with
// agent(1), supernode(2), publisher(3).
type Membership struct {
	Zone  string
	Roles []Role
}

type membershipASN1 struct {
	Zone  string `asn1:"utf8"`
	Roles []asn1.Enumerated
}

var roleCodes = map[Role]asn1.Enumerated{RoleAgent: 1, RoleSupernode: 2, RolePublisher: 3}

// ValidateZoneName checks a zone name: 1–64 characters of letters, digits,
// '.', '-' and '_', starting with a letter or digit. Zone names become parts
// of gossip topic names and directory names, hence the narrow alphabet.
func ValidateZoneName(zone string) error {
	if zone == "" || len(zone) > MaxZoneNameLength {
		return fmt.Errorf("zone name %q: want 1 to %d characters", zone, MaxZoneNameLength)
	}
	for i, c := range zone {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '-' && c != '_') {
			return fmt.Errorf("zone name %q: character %q at %d not allowed (letters, digits, '.', '-', '_'; first a letter or digit)", zone, c, i)
		}
	}
	return nil
}

// Validate checks the zone name and that roles are known, distinct and at
// least one.
func (m Membership) Validate() error {
	if err := ValidateZoneName(m.Zone); err != nil {
		return err
	}
	if len(m.Roles) == 0 || len(m.Roles) > MaxRoles {
		return fmt.Errorf("want 1 to %d roles, got %d", MaxRoles, len(m.Roles))
	}
	for i, r := range m.Roles {
		if !r.Valid() {
			return fmt.Errorf("unknown role %q", r)
		}
		if slices.Contains(m.Roles[:i], r) {
			return fmt.Errorf("role %q listed twice", r)
		}
	}
	return nil
}

// Extension encodes m as patchnet's X.509 extension. It is NOT critical: a
// critical extension that a relying party does not understand makes it reject
// the certificate (RFC 5280 §4.2), so openssl verify and every other X.509
// tool would refuse patchnet certificates. patchnet's verifier requires the
// extension itself, so non-critical loses nothing.
func (m Membership) Extension() (pkix.Extension, error) {
	if err := m.Validate(); err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding membership: %w", err)
	}
	raw := membershipASN1{Zone: m.Zone}
	for _, r := range m.Roles {
		raw.Roles = append(raw.Roles, roleCodes[r])
	}
	der, err := asn1.Marshal(raw)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding membership: %w", err)
	}
	return pkix.Extension{Id: OIDMembership, Critical: false, Value: der}, nil
}

// ParseMembership decodes patchnet's extension value.
func ParseMembership(der []byte) (Membership, error) {
	var raw membershipASN1
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return Membership{}, fmt.Errorf("%w: decoding membership extension: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return Membership{}, fmt.Errorf("%w: %d trailing bytes after membership extension", ErrMalformed, len(rest))
	}
	if len(raw.Roles) > MaxRoles {
		return Membership{}, fmt.Errorf("%w: membership extension lists %d roles (limit %d)", ErrMalformed, len(raw.Roles), MaxRoles)
	}
	m := Membership{Zone: raw.Zone}
	for _, code := range raw.Roles {
		r, ok := roleOfCode(code)
		if !ok {
			return Membership{}, fmt.Errorf("%w: unknown role code %d in membership extension", ErrMalformed, code)
		}
		m.Roles = append(m.Roles, r)
	}
	if err := m.Validate(); err != nil {
		return Membership{}, fmt.Errorf("%w: membership extension: %v", ErrMalformed, err)
	}
	return m, nil
}

func roleOfCode(code asn1.Enumerated) (Role, bool) {
	for r, c := range roleCodes {
		if c == code {
			return r, true
		}
	}
	return "", false
}

// MembershipOf reads patchnet's extension from a certificate.
func MembershipOf(cert *x509.Certificate) (Membership, error) {
	return membershipFrom(cert.Extensions)
}

func membershipFrom(exts []pkix.Extension) (Membership, error) {
	var found *pkix.Extension
	for i := range exts {
		if exts[i].Id.Equal(OIDMembership) {
			if found != nil {
				return Membership{}, fmt.Errorf("%w: membership extension appears twice", ErrMalformed)
			}
			found = &exts[i]
		}
	}
	if found == nil {
		return Membership{}, fmt.Errorf("%w: no patchnet membership extension (%s)", ErrMalformed, OIDMembership)
	}
	return ParseMembership(found.Value)
}

// PeerURIScheme is the scheme of the URI SAN naming a leaf's peer ID:
// "libp2p:<peer ID>", e.g. libp2p:12D3KooW…
const PeerURIScheme = "libp2p"

// PeerURI is the URI SAN value for a peer ID.
func PeerURI(id string) string { return PeerURIScheme + ":" + id }

package ca

import "time"

// Validity bounds, in days, for what this package issues.
const (
	// DefaultRootDays is a root CA's default lifetime (10 years): roots are
	// pinned on every node, so they change rarely.
	DefaultRootDays = 3650
	// MaxRootDays caps a root CA's lifetime (20 years).
	MaxRootDays = 7300
	// DefaultZoneDays is a zone CA's default lifetime (5 years).
	DefaultZoneDays = 1825
	// MaxZoneDays caps a zone CA's lifetime (10 years).
	MaxZoneDays = 3650
	// DefaultLeafDays is a node certificate's default lifetime (1 year).
	DefaultLeafDays = 365
	// MaxLeafDays caps a node certificate's lifetime (825 days, the old
	// CA/Browser Forum limit): revocation is the fast path, expiry the
	// backstop.
	MaxLeafDays = 825
	// DefaultCRLDays is how long a CRL stays fresh (nextUpdate − thisUpdate).
	// Verifiers fail closed after it, so the CA must reissue before then.
	DefaultCRLDays = 7
	// MaxCRLDays caps a CRL's freshness window.
	MaxCRLDays = 90
	// DefaultRootCRLDays is the freshness of the first root CRL: a root is
	// kept offline, so its CRLs are issued rarely and last longer.
	DefaultRootCRLDays = 30
	// Backdate is subtracted from notBefore and thisUpdate, so that nodes
	// whose clocks run a little behind the CA's accept fresh certificates.
	Backdate = 5 * time.Minute
	// MaxStateBytes caps state.json.
	MaxStateBytes = 64 << 20
	// SerialBits is the size of random serial numbers (RFC 5280 allows up to
	// 20 octets; CA/B Forum wants at least 64 bits of randomness).
	SerialBits = 128
)

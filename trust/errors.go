package trust

import "errors"

// ErrUntrusted is the root of every verification failure: each sentinel below
// matches errors.Is(err, ErrUntrusted), so a caller that only needs "may I act
// on this?" checks one error, and one that needs the reason checks the
// sentinel.
var ErrUntrusted = errors.New("untrusted")

// untrusted makes a sentinel that also matches ErrUntrusted.
func untrusted(reason string) error {
	return &sentinel{reason: reason}
}

type sentinel struct{ reason string }

func (s *sentinel) Error() string        { return s.reason }
func (s *sentinel) Is(target error) bool { return target == ErrUntrusted }

// Verification failures. Wrap them with context ("verifying chain of %s: %w")
// rather than replacing them, so errors.Is keeps working.
var (
	ErrUnknownRoot         = untrusted("chain does not end at a pinned root")
	ErrExpired             = untrusted("expired")
	ErrNotYetValid         = untrusted("not yet valid")
	ErrRevoked             = untrusted("revoked")
	ErrWrongRole           = untrusted("wrong role")
	ErrWrongZone           = untrusted("wrong zone")
	ErrBadSignature        = untrusted("bad signature")
	ErrMalformed           = untrusted("malformed")
	ErrStaleCRL            = untrusted("stale revocation list")
	ErrChainTooLong        = untrusted("certificate chain too long")
	ErrTooManySignatures   = untrusted("too many signatures")
	ErrOversized           = untrusted("oversized")
	ErrPeerIDMismatch      = untrusted("certificate names another peer")
	ErrRollback            = untrusted("rollback to an older version")
	ErrInsufficientSigners = untrusted("too few distinct co-signers")
	ErrEquivocation        = untrusted("conflicting co-signed versions")
	ErrDigestMismatch      = untrusted("digest mismatch")
)

// Verification failures added with the verifier (trust helper).
var (
	// ErrUnknownIssuer: a CRL or certificate names a CA this verifier has
	// not verified (no such zone CA under a pinned root).
	ErrUnknownIssuer = untrusted("issued by an unknown CA")
	// ErrUnknownSigner: a signature names its signer by fingerprint only,
	// and this verifier has not verified that certificate yet.
	ErrUnknownSigner = untrusted("unknown signer")
)

package origin

import "github.com/patchnet/patchnet/trust"

// untrusted makes a sentinel that also matches trust.ErrUntrusted, built
// like trust's own.
func untrusted(reason string) error {
	return &sentinel{reason: reason}
}

type sentinel struct{ reason string }

func (s *sentinel) Error() string        { return s.reason }
func (s *sentinel) Is(target error) bool { return target == trust.ErrUntrusted }

// Refusals of this package; each matches errors.Is(err, trust.ErrUntrusted).
// A signature that does not verify is trust.ErrBadSignature, an rpm whose
// payload does not match its signed header trust.ErrDigestMismatch, a
// malformed rpm or signature trust.ErrMalformed, one past a bound
// trust.ErrOversized.
var (
	// ErrOutsideOrigins: a URL is not under any of the publisher's vendor
	// origins (Policy.Allows), or no URL of an artifact is.
	ErrOutsideOrigins = untrusted("outside the publisher's vendor origins")
	// ErrUnsigned: the policy requires a vendor signature and none was
	// found.
	ErrUnsigned = untrusted("no vendor signature")
	// ErrUnpinnedKey: a vendor signature was made by a key that is not
	// pinned for the publisher.
	ErrUnpinnedKey = untrusted("signed by a key that is not pinned")
)

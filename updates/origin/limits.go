package origin

import "time"

// Bounds on a policy and on what Check reads. Everything here is read
// before it is trusted, so every size is bounded; an input past a bound is
// an error that names it.
const (
	// MaxOrigins bounds policy.origins.
	MaxOrigins = 64
	// MaxKeys bounds policy.keys (files, each may hold several keys).
	MaxKeys = 32
	// MaxKeyFileBytes bounds one pinned key file; a whole distribution
	// keyring stays well below it.
	MaxKeyFileBytes = 1 << 20
	// MaxSignatureBytes bounds a detached signature file and one signature
	// in an rpm's signature header; one signature is well under 1 KiB, a
	// file signed by many keys a few KiB.
	MaxSignatureBytes = 64 << 10
	// MaxSignaturesPerFile bounds the signature packets in one detached
	// signature or one rpm signature tag.
	MaxSignaturesPerFile = 16
	// MaxRedirects bounds the redirects followed for one request, each hop
	// screened by the policy.
	MaxRedirects = 10
	// MaxReasonLength bounds a reason quoted in a Report.
	MaxReasonLength = 512
	// ProbeTimeout bounds one request for a detached signature (the
	// caller's context may end it sooner).
	ProbeTimeout = 30 * time.Second
)

// RPM bounds. rpm itself allows 32 entries in a signature header and
// 65535 entries and 256 MiB of data in a header; the signature header's
// data is read into memory, so it is held to far less than rpm allows
// (real ones are a few KiB).
const (
	// MaxRPMSigEntries bounds the signature header's index entries.
	MaxRPMSigEntries = 32
	// MaxRPMSigData bounds the signature header's data store.
	MaxRPMSigData = 1 << 20
	// MaxRPMHeaderEntries bounds the main header's index entries.
	MaxRPMHeaderEntries = 0xffff
	// MaxRPMHeaderData bounds the main header's data store.
	MaxRPMHeaderData = 0x0fffffff
	// MaxRPMDigestLength bounds the payload digest string (SHA-512 in hex
	// is 128 bytes).
	MaxRPMDigestLength = 128
)

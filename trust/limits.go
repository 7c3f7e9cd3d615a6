package trust

import "time"

// Bounds on everything trust decodes or keeps. Each one caps what a peer can
// make this process allocate or compute before a signature has been checked.
const (
	// MaxEnvelopeBytes caps an encoded envelope: announcements are small JSON
	// documents; artifacts travel separately, addressed by digest.
	MaxEnvelopeBytes = 1 << 20
	// MaxSignatures caps signatures in one envelope: k-of-n co-signing by a
	// zone's supernodes needs a handful, 32 leaves room for large quorums.
	MaxSignatures = 32
	// MaxChainLength caps a verified chain, root included: root → zone CA →
	// leaf is the only shape patchnet issues.
	MaxChainLength = 3
	// MaxCertificateBytes caps one DER certificate: patchnet's are ~600 bytes.
	MaxCertificateBytes = 16 << 10
	// MaxPEMCertificates caps the certificates read from one PEM file or blob.
	MaxPEMCertificates = 16
	// MaxPEMBytes caps a PEM blob of certificates.
	MaxPEMBytes = MaxPEMCertificates * MaxCertificateBytes * 2
	// MaxCRLBytes caps one DER CRL: about 20 000 revoked entries.
	MaxCRLBytes = 1 << 20
	// MaxCSRBytes caps one certificate request (DER or PEM).
	MaxCSRBytes = 16 << 10
	// MaxKeyFileBytes caps a PEM private key file.
	MaxKeyFileBytes = 16 << 10
	// MaxRoles caps the roles one certificate may carry.
	MaxRoles = 8
	// MaxZoneNameLength caps a zone name (it becomes part of topic names).
	MaxZoneNameLength = 64
	// MaxIntermediates caps the zone CAs a verifier keeps.
	MaxIntermediates = 4096
	// DefaultCacheSize is how many verified chains a Verifier remembers.
	DefaultCacheSize = 4096
	// MaxCacheSize bounds VerifierConfig.CacheSize.
	MaxCacheSize = 1 << 20
	// DefaultMaxClockSkew tolerates a CA whose clock runs slightly ahead: a
	// certificate or CRL that becomes valid this soon is accepted already.
	DefaultMaxClockSkew = 5 * time.Minute
	// MaxClockSkewLimit bounds VerifierConfig.MaxClockSkew.
	MaxClockSkewLimit = time.Hour
)

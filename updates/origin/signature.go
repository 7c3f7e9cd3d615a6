package origin

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/patchnet/patchnet/trust"
)

// SignatureKind says what a vendor signature covers.
type SignatureKind string

// Signature kinds.
const (
	// KindDetached covers the whole file: a signature fetched from beside
	// an allowed URL (URL.asc or URL.sig).
	KindDetached SignatureKind = "detached"
	// KindRPMHeader covers an rpm's header, which carries the digest of
	// its payload (checked too).
	KindRPMHeader SignatureKind = "rpm-header"
	// KindRPMHeaderPayload covers an rpm's header and payload.
	KindRPMHeaderPayload SignatureKind = "rpm-header+payload"
)

// Signature is one vendor signature that verified.
type Signature struct {
	Kind SignatureKind `json:"kind"`
	// Source is where it came from: the signature's URL, or the rpm
	// signature tag ("RPMSIGTAG_RSA").
	Source string `json:"source"`
	// Fingerprint is the pinned key's primary fingerprint, upper-case hex.
	Fingerprint string `json:"fingerprint"`
	// KeyID is the (sub)key that signed, upper-case hex.
	KeyID string `json:"key_id"`
	// UserID is the key's primary user id, if it has one.
	UserID string `json:"user_id,omitempty"`
	// Created is the signature's creation time.
	Created time.Time `json:"created"`
	// Hash is the digest algorithm the signature was made over.
	Hash string `json:"hash"`
}

// String is one line for logs.
func (s Signature) String() string {
	return fmt.Sprintf("%s signature (%s) by %s %q", s.Kind, s.Source, s.Fingerprint, s.UserID)
}

// weakHashes are digests a vendor signature may not be made over.
var weakHashes = map[crypto.Hash]bool{crypto.MD5: true, crypto.SHA1: true, crypto.RIPEMD160: true}

// verifySignature checks binary OpenPGP signature packets over signed
// against the pinned keys: the first signature by a pinned key must verify
// (good signature, key and signature neither expired nor revoked, strong
// hash).
func verifySignature(keys openpgp.EntityList, signed io.Reader, sig []byte) (Signature, error) {
	issuers, err := signatureIssuers(sig)
	if err != nil {
		return Signature{}, err
	}
	pkt, signer, err := openpgp.VerifyDetachedSignature(keys, signed, bytes.NewReader(sig), nil)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return Signature{}, fmt.Errorf("%w: issuer %s", ErrUnpinnedKey, strings.Join(issuers, ", "))
	case err != nil:
		return Signature{}, fmt.Errorf("%w: %w", trust.ErrBadSignature, err)
	case weakHashes[pkt.Hash]:
		return Signature{}, fmt.Errorf("%w: made over %s, a weak hash", trust.ErrBadSignature, pkt.Hash)
	}
	return describe(pkt, signer), nil
}

// signatureIssuers parses sig as signature packets only and names their
// issuers.
func signatureIssuers(sig []byte) ([]string, error) {
	var issuers []string
	packets := packet.NewReader(bytes.NewReader(sig))
	for {
		p, err := packets.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reading signature packets: %w", trust.ErrMalformed, err)
		}
		s, ok := p.(*packet.Signature)
		if !ok {
			return nil, fmt.Errorf("%w: a %T where only signatures belong", trust.ErrMalformed, p)
		}
		if len(issuers) == MaxSignaturesPerFile {
			return nil, fmt.Errorf("%w: more than %d signatures", trust.ErrOversized, MaxSignaturesPerFile)
		}
		issuers = append(issuers, issuerOf(s))
	}
	if len(issuers) == 0 {
		return nil, fmt.Errorf("%w: no signature packet", trust.ErrMalformed)
	}
	return issuers, nil
}

func issuerOf(s *packet.Signature) string {
	switch {
	case len(s.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", s.IssuerFingerprint)
	case s.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return "unnamed"
}

func describe(pkt *packet.Signature, signer *openpgp.Entity) Signature {
	s := Signature{
		Fingerprint: fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint),
		KeyID:       issuerOf(pkt),
		Created:     pkt.CreationTime.UTC(),
		Hash:        pkt.Hash.String(),
	}
	if id := signer.PrimaryIdentity(); id != nil {
		s.UserID = id.Name
	}
	return s
}

// armorSigHeader starts an armored signature.
var armorSigHeader = []byte("-----BEGIN PGP SIGNATURE-----")

// looksLikeOpenPGP reports whether b could be a signature at all: armored,
// or a binary packet (its first byte has the high bit set). A web server's
// "not found" page answered with 200 is neither, and counts as no
// signature rather than a bad one.
func looksLikeOpenPGP(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return bytes.HasPrefix(t, armorSigHeader) || len(b) > 0 && b[0]&0x80 != 0
}

// dearmor returns the binary packets of an armored signature, or b itself.
func dearmor(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), armorSigHeader) {
		return b, nil
	}
	block, err := armor.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: decoding armor: %w", trust.ErrMalformed, err)
	}
	if block.Type != openpgp.SignatureType {
		return nil, fmt.Errorf("%w: armor holds %q, not a signature", trust.ErrMalformed, clip(block.Type))
	}
	body, err := io.ReadAll(io.LimitReader(block.Body, MaxSignatureBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: decoding armor: %w", trust.ErrMalformed, err)
	}
	if len(body) > MaxSignatureBytes {
		return nil, fmt.Errorf("%w: signature over %d bytes", trust.ErrOversized, MaxSignatureBytes)
	}
	return body, nil
}

package origin

import (
	"crypto"
	_ "crypto/sha256" // payload digests
	_ "crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/patchnet/patchnet/trust"
)

// rpmPayloadHashes are the payload digest algorithms (OpenPGP hash ids) a
// header-only signature may vouch for the payload through.
var rpmPayloadHashes = map[uint32]crypto.Hash{8: crypto.SHA256, 9: crypto.SHA384, 10: crypto.SHA512, 11: crypto.SHA224}

// verifyRPM checks every OpenPGP signature of the rpm at path against keys
// and the payload against the digest in its header. It returns the
// signatures that verified, none for an unsigned rpm.
func verifyRPM(path string, keys openpgp.EntityList) ([]Signature, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening rpm: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading rpm: %w", err)
	}
	p, err := parseRPM(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("parsing rpm: %w", err)
	}
	sigs, err := p.verifySigs(f, keys)
	if err != nil {
		return nil, err
	}
	return sigs, p.checkPayload(f, sigs)
}

// verifySigs verifies each signature over what its tag says it covers.
func (p *rpmPackage) verifySigs(f io.ReaderAt, keys openpgp.EntityList) ([]Signature, error) {
	var out []Signature
	for _, s := range p.sigs {
		tag := rpmSigTags[s.tag]
		covered := p.header
		if tag.kind == KindRPMHeaderPayload {
			covered.len += p.payload.len
		}
		sig, err := verifySignature(keys, io.NewSectionReader(f, covered.off, covered.len), s.blob)
		if err != nil {
			return nil, fmt.Errorf("verifying %s: %w", tag.name, err)
		}
		sig.Kind, sig.Source = tag.kind, tag.name
		out = append(out, sig)
	}
	return out, nil
}

// checkPayload compares the payload with the digest the header carries. A
// header-only signature covers the payload only through that digest, so
// when no header+payload signature verified, the digest must be there and
// strong.
func (p *rpmPackage) checkPayload(f io.ReaderAt, sigs []Signature) error {
	h, strong := rpmPayloadHashes[p.payloadAlgo]
	if p.payloadDigest == "" || !strong {
		if headerOnly(sigs) {
			return fmt.Errorf("%w: the header signature does not cover the payload: no sha2 payload digest (algorithm %d)",
				trust.ErrMalformed, p.payloadAlgo)
		}
		return nil
	}
	d := h.New()
	if _, err := io.Copy(d, io.NewSectionReader(f, p.payload.off, p.payload.len)); err != nil {
		return fmt.Errorf("hashing rpm payload: %w", err)
	}
	if got := hex.EncodeToString(d.Sum(nil)); got != strings.ToLower(p.payloadDigest) {
		return fmt.Errorf("%w: rpm payload %s is %s, its header says %s", trust.ErrDigestMismatch, h, got, clip(p.payloadDigest))
	}
	return nil
}

// headerOnly reports whether sigs vouch for the header alone.
func headerOnly(sigs []Signature) bool {
	if len(sigs) == 0 {
		return false
	}
	for _, s := range sigs {
		if s.Kind == KindRPMHeaderPayload {
			return false
		}
	}
	return true
}

package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Envelope is a DSSE envelope (github.com/secure-systems-lab/dsse): a typed
// payload and any number of signatures over its PAE encoding. Its JSON form is
// the standard one (payload and sig in standard base64), with one optional
// addition per signature: the signer's certificate chain, which DSSE
// implementations that do not know it ignore.
//
// An Envelope is untrusted data; Verifier.VerifyEnvelope turns it into a
// VerifiedEnvelope.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature. KeyID is the lowercase hex SHA-256
// fingerprint of the signer's leaf certificate; Certificates, when present,
// are DER: the leaf first, then its zone CA. A signature may omit
// Certificates when the verifier already knows the leaf (see
// Verifier.VerifyEnvelope).
type Signature struct {
	KeyID        string   `json:"keyid"`
	Sig          []byte   `json:"sig"`
	Certificates [][]byte `json:"certificates,omitempty"`
}

// NewEnvelope starts an unsigned envelope.
func NewEnvelope(payloadType string, payload []byte) *Envelope {
	return &Envelope{PayloadType: payloadType, Payload: payload}
}

// PAE is DSSE's pre-authentication encoding, the bytes that are signed:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(32 + len(payloadType) + len(payload))
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// Sign adds one signature by key, carrying chain (leaf first, then zone CA;
// the root is left out, verifiers pin it). Co-signing a received envelope is
// ParseEnvelope followed by Sign. The chain's leaf must hold key's public key.
func (e *Envelope) Sign(key crypto.Signer, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("signing envelope: no certificate chain")
	}
	if len(chain) >= MaxChainLength {
		return fmt.Errorf("signing envelope: %w: %d certificates (limit %d, root excluded)", ErrChainTooLong, len(chain), MaxChainLength-1)
	}
	if len(e.Signatures) >= MaxSignatures {
		return fmt.Errorf("signing envelope: %w: already %d signatures", ErrTooManySignatures, len(e.Signatures))
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return errors.New("signing envelope: the leaf certificate does not hold this key")
	}
	sig, err := signMessage(key, PAE(e.PayloadType, e.Payload))
	if err != nil {
		return fmt.Errorf("signing envelope: %w", err)
	}
	s := Signature{KeyID: FingerprintOf(chain[0]).String(), Sig: sig}
	for _, c := range chain {
		s.Certificates = append(s.Certificates, c.Raw)
	}
	e.Signatures = append(e.Signatures, s)
	return nil
}

// signMessage signs msg: Ed25519 over the message itself, ECDSA P-256 over
// its SHA-256 (ASN.1 DER signature), as DSSE implementations do.
func signMessage(key crypto.Signer, msg []byte) ([]byte, error) {
	switch key.Public().(type) {
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		return key.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	return nil, fmt.Errorf("unsupported key type %T", key.Public())
}

// verifyMessage checks sig over msg with pub (see signMessage).
func verifyMessage(pub crypto.PublicKey, msg, sig []byte) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig)
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k, d[:], sig)
	}
	return false
}

// publicKeysEqual compares two public keys of the supported types.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// ParseEnvelope decodes an envelope's JSON. It checks shape and bounds only
// (ErrOversized, ErrMalformed, ErrTooManySignatures, ErrChainTooLong), not
// signatures.
func ParseEnvelope(raw []byte) (*Envelope, error) {
	if len(raw) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("decoding envelope: %w: %d bytes (limit %d)", ErrOversized, len(raw), MaxEnvelopeBytes)
	}
	e, ok := fastDecodeEnvelope(raw)
	if !ok {
		var err error
		if e, err = slowDecodeEnvelope(raw); err != nil {
			return nil, fmt.Errorf("decoding envelope: %w", err)
		}
	}
	if err := e.checkShape(); err != nil {
		return nil, fmt.Errorf("decoding envelope: %w", err)
	}
	return &e, nil
}

// slowDecodeEnvelope is encoding/json's decoding, which defines what an
// envelope's JSON means.
func slowDecodeEnvelope(raw []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return e, nil
}

// checkShape enforces the bounds ParseEnvelope promises.
func (e *Envelope) checkShape() error {
	if e.PayloadType == "" {
		return fmt.Errorf("%w: empty payloadType", ErrMalformed)
	}
	if len(e.Signatures) > MaxSignatures {
		return fmt.Errorf("%w: %d signatures (limit %d)", ErrTooManySignatures, len(e.Signatures), MaxSignatures)
	}
	for i, s := range e.Signatures {
		if len(s.Sig) == 0 {
			return fmt.Errorf("%w: signature %d is empty", ErrMalformed, i)
		}
		if len(s.Certificates) >= MaxChainLength {
			return fmt.Errorf("%w: signature %d carries %d certificates (limit %d, root excluded)", ErrChainTooLong, i, len(s.Certificates), MaxChainLength-1)
		}
		for j, c := range s.Certificates {
			if len(c) > MaxCertificateBytes {
				return fmt.Errorf("%w: signature %d certificate %d is %d bytes (limit %d)", ErrOversized, i, j, len(c), MaxCertificateBytes)
			}
		}
	}
	return nil
}

// Marshal encodes the envelope as DSSE JSON.
func (e *Envelope) Marshal() ([]byte, error) {
	if err := e.checkShape(); err != nil {
		return nil, fmt.Errorf("encoding envelope: %w", err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding envelope: %w", err)
	}
	if len(data) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("encoding envelope: %w: %d bytes (limit %d)", ErrOversized, len(data), MaxEnvelopeBytes)
	}
	return data, nil
}

package trust

import (
	"fmt"
	"slices"
	"strings"
)

// VerifiedEnvelope is an envelope whose payload at least one valid signature
// covers. Signers are distinct keys (peer IDs) whose chains verified;
// Rejected lists the signatures that did not count, with the reason.
type VerifiedEnvelope struct {
	PayloadType string
	Payload     []byte
	Signers     []Identity
	Rejected    []SignatureError
}

// SignatureError says why one signature of an envelope did not count.
type SignatureError struct {
	Index int    // position in the envelope's signatures
	KeyID string // as the signature claims it
	Err   error
}

// Error describes the rejected signature.
func (e SignatureError) Error() string {
	return fmt.Sprintf("signature %d (keyid %.16s): %v", e.Index, e.KeyID, e.Err)
}

// Unwrap exposes the sentinel.
func (e SignatureError) Unwrap() error { return e.Err }

// VerifyEnvelope decodes raw and verifies every signature: its chain (see
// VerifyChain) and the signature over the DSSE PAE. A signature may omit its
// certificates if this verifier has already verified the leaf its keyid
// names. Several signatures by one key count once. Invalid signatures go to
// Rejected; the envelope fails only if no signature is valid, with the first
// signature's reason.
func (v *Verifier) VerifyEnvelope(raw []byte) (*VerifiedEnvelope, error) {
	env, err := ParseEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("verifying envelope: %w", err)
	}
	return v.VerifyParsedEnvelope(env)
}

// VerifyParsedEnvelope is VerifyEnvelope for an envelope already decoded
// with ParseEnvelope.
func (v *Verifier) VerifyParsedEnvelope(env *Envelope) (*VerifiedEnvelope, error) {
	if err := env.checkShape(); err != nil {
		return nil, fmt.Errorf("verifying envelope: %w", err)
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("verifying envelope: %w: envelope is unsigned", ErrBadSignature)
	}
	pae := PAE(env.PayloadType, env.Payload)
	ve := &VerifiedEnvelope{PayloadType: env.PayloadType, Payload: env.Payload}
	for i, s := range env.Signatures {
		id, err := v.verifySignature(pae, s)
		if err != nil {
			ve.Rejected = append(ve.Rejected, SignatureError{Index: i, KeyID: s.KeyID, Err: err})
			continue
		}
		if !slices.ContainsFunc(ve.Signers, func(o Identity) bool { return o.PeerID == id.PeerID }) {
			ve.Signers = append(ve.Signers, id) // one key counts once
		}
	}
	if len(ve.Signers) == 0 {
		return nil, fmt.Errorf("verifying envelope: no valid signature among %d: %w", len(env.Signatures), ve.Rejected[0])
	}
	return ve, nil
}

// verifySignature checks one signature's chain (cached when possible) and
// the signature itself.
func (v *Verifier) verifySignature(pae []byte, s Signature) (Identity, error) {
	e, err := v.signerEntry(s)
	if err != nil {
		return Identity{}, err
	}
	if !verifyMessage(e.pub, pae, s.Sig) {
		return Identity{}, fmt.Errorf("%w: signature does not verify with the key of %s", ErrBadSignature, e.id)
	}
	return e.id.clone(), nil
}

// signerEntry finds the verified chain a signature names.
func (v *Verifier) signerEntry(s Signature) (*cacheEntry, error) {
	now := v.Now()
	if len(s.Certificates) == 0 {
		fp, err := ParseFingerprint(s.KeyID)
		if err != nil {
			return nil, fmt.Errorf("%w: keyid: %v", ErrMalformed, err)
		}
		if e, ok := v.cache.get(fp, now); ok {
			return e, nil
		}
		return nil, fmt.Errorf("%w: certificate %s is not known here and the signature carries no chain", ErrUnknownSigner, fp.Short())
	}
	fp := fingerprintDER(s.Certificates[0])
	if !strings.EqualFold(s.KeyID, fp.String()) {
		return nil, fmt.Errorf("%w: keyid %.16s does not name the enclosed certificate %s", ErrMalformed, s.KeyID, fp.Short())
	}
	if e, ok := v.cache.get(fp, now); ok {
		return e, nil
	}
	certs, err := parseChainDER(s.Certificates)
	if err != nil {
		return nil, err
	}
	e, err := v.verifyChainCold(certs[0], certs[1:], now)
	if err != nil {
		return nil, fmt.Errorf("chain of %s: %w", describeCert(certs[0]), err)
	}
	return e, nil
}

// SignersWith returns the distinct signers carrying role in zone (any zone
// if zone is the zero Zone).
func (ve *VerifiedEnvelope) SignersWith(role Role, zone Zone) []Identity {
	var out []Identity
	for _, id := range ve.Signers {
		if id.Holds(role, zone) {
			out = append(out, id)
		}
	}
	return out
}

// RequireSigners fails with ErrInsufficientSigners unless at least k distinct
// signers carry role in zone. The error says how many there are and why the
// other signatures did not count; it also matches ErrWrongRole or
// ErrWrongZone when a valid signer was turned away for that reason.
func (ve *VerifiedEnvelope) RequireSigners(role Role, zone Zone, k int) error {
	have := len(ve.SignersWith(role, zone))
	if have >= k {
		return nil
	}
	where := zone.String()
	if !zone.IsZero() {
		where = "zone " + where
	}
	errs := []error{fmt.Errorf("%w: have %d distinct %s signer(s) of %s, need %d", ErrInsufficientSigners, have, role, where, k)}
	for _, id := range ve.Signers {
		if err := id.Check(role, zone); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range ve.Rejected {
		errs = append(errs, r)
	}
	return joinErrors(errs)
}

// joinErrors is errors.Join with "; " instead of newlines, for one-line logs.
func joinErrors(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &multiError{msg: strings.Join(msgs, "; "), errs: errs}
}

type multiError struct {
	msg  string
	errs []error
}

func (m *multiError) Error() string   { return m.msg }
func (m *multiError) Unwrap() []error { return m.errs }

package trust_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// The DSSE spec's PAE examples (protocol.md) and the edge cases
// go-securesystemslib tests.
func TestPAEVectors(t *testing.T) {
	for _, tc := range []struct {
		typ, body, want string
	}{
		{"http://example.com/HelloWorld", "hello world", "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{"", "", "DSSEv1 0  0 "},
		{"http://example.com/HelloWorld", "ಠ", "DSSEv1 29 http://example.com/HelloWorld 3 ಠ"},
	} {
		if got := string(trust.PAE(tc.typ, []byte(tc.body))); got != tc.want {
			t.Errorf("PAE(%q, %q) = %q, want %q", tc.typ, tc.body, got, tc.want)
		}
		if got := dsse.PAE(tc.typ, []byte(tc.body)); !bytes.Equal(got, trust.PAE(tc.typ, []byte(tc.body))) {
			t.Errorf("PAE differs from go-securesystemslib for %q", tc.typ)
		}
	}
}

// dsseKey adapts a key to go-securesystemslib's dsse Signer/Verifier with
// the same conventions as patchnet (Ed25519 over PAE, ECDSA over SHA-256).
type dsseKey struct {
	priv  crypto.Signer
	keyID string
}

func (k dsseKey) Sign(_ context.Context, data []byte) ([]byte, error) {
	if _, ok := k.priv.Public().(ed25519.PublicKey); ok {
		return k.priv.Sign(rand.Reader, data, crypto.Hash(0))
	}
	d := sha256.Sum256(data)
	return k.priv.Sign(rand.Reader, d[:], crypto.SHA256)
}

func (k dsseKey) Verify(_ context.Context, data, sig []byte) error {
	switch pub := k.priv.Public().(type) {
	case ed25519.PublicKey:
		if ed25519.Verify(pub, data, sig) {
			return nil
		}
	case *ecdsa.PublicKey:
		d := sha256.Sum256(data)
		if ecdsa.VerifyASN1(pub, d[:], sig) {
			return nil
		}
	}
	return errors.New("bad signature")
}

func (k dsseKey) KeyID() (string, error)   { return k.keyID, nil }
func (k dsseKey) Public() crypto.PublicKey { return k.priv.Public() }

// patchnet envelopes verify with go-securesystemslib's DSSE, and envelopes
// it signs verify with patchnet (their signatures carry no chain, so the
// signer must be known to the verifier already).
func TestEnvelopeInteropSecuresystemslib(t *testing.T) {
	for _, alg := range []trust.KeyAlgorithm{trust.KeyEd25519, trust.KeyECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			pki := trusttest.NewPKI(t, "acme")
			v := pki.Verifier(t)
			m := pki.IssueWith(t, "acme", trusttest.IssueOptions{KeyType: alg, Roles: []trust.Role{trust.RolePublisher}})
			payload := []byte(`{"id":"PATCH-7"}`)
			raw := trusttest.Envelope(t, announceType, payload, m)

			var theirs dsse.Envelope
			if err := json.Unmarshal(raw, &theirs); err != nil {
				t.Fatal(err)
			}
			key := dsseKey{priv: m.Key, keyID: m.Identity.Fingerprint.String()}
			ev, err := dsse.NewEnvelopeVerifier(key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ev.Verify(context.Background(), &theirs); err != nil {
				t.Fatalf("go-securesystemslib rejects patchnet's envelope: %v", err)
			}

			es, err := dsse.NewEnvelopeSigner(key)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := es.SignPayload(context.Background(), announceType, payload)
			if err != nil {
				t.Fatal(err)
			}
			foreign, err := json.Marshal(signed)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.VerifyEnvelope(foreign)
			wantErr(t, err, trust.ErrUnknownSigner)
			if _, err := v.VerifyChain(m.Chain[0], m.Chain[1:]); err != nil {
				t.Fatal(err)
			}
			ve := mustVerify(t, v, foreign)
			if diff := cmp.Diff(payload, ve.Payload); diff != "" {
				t.Fatalf("payload (-want +got):\n%s", diff)
			}
			if len(ve.SignersWith(trust.RolePublisher, pki.ZoneRef("acme"))) != 1 {
				t.Fatalf("signers = %v", ve.Signers)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	m := pki.Issue(t, "acme", trust.RoleSupernode)
	env := trust.NewEnvelope(announceType, []byte{0, 1, 2, 0xff})
	m.Sign(t, env)
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := trust.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(env, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// Co-signing a parsed envelope keeps the first signature valid.
	sn2 := pki.Issue(t, "acme", trust.RoleSupernode)
	sn2.Sign(t, got)
	raw2, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if ve := mustVerify(t, pki.Verifier(t), raw2); len(ve.Signers) != 2 {
		t.Fatalf("co-signed envelope has %d signers", len(ve.Signers))
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		want error
	}{
		{"not json", `hello`, trust.ErrMalformed},
		{"trailing data", `{"payloadType":"t","payload":"","signatures":[]} {}`, trust.ErrMalformed},
		{"no payload type", `{"payload":"","signatures":[]}`, trust.ErrMalformed},
		{"bad base64", `{"payloadType":"t","payload":"***","signatures":[]}`, trust.ErrMalformed},
		{"empty sig", `{"payloadType":"t","payload":"","signatures":[{"keyid":"x","sig":""}]}`, trust.ErrMalformed},
		{"wrong type", `{"payloadType":1,"payload":"","signatures":[]}`, trust.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := trust.ParseEnvelope([]byte(tc.raw))
			wantErr(t, err, tc.want)
		})
	}
}

func TestVerifyEnvelopeTamperedPayload(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	m := pki.Issue(t, "acme", trust.RoleSupernode)
	env := trust.NewEnvelope(announceType, []byte(`{"version":1}`))
	m.Sign(t, env)
	for name, mutate := range map[string]func(*trust.Envelope){
		"payload":      func(e *trust.Envelope) { e.Payload = []byte(`{"version":2}`) },
		"payload type": func(e *trust.Envelope) { e.PayloadType = "application/other" },
		"signature":    func(e *trust.Envelope) { e.Signatures[0].Sig[3] ^= 1 },
	} {
		t.Run(name, func(t *testing.T) {
			c := *env
			c.Signatures = []trust.Signature{env.Signatures[0]}
			c.Signatures[0].Sig = bytes.Clone(env.Signatures[0].Sig)
			mutate(&c)
			_, err := v.VerifyEnvelope(mustJSON(t, &c))
			wantErr(t, err, trust.ErrBadSignature)
		})
	}
	unsigned := trust.NewEnvelope(announceType, []byte("x"))
	_, err := v.VerifyEnvelope(mustJSON(t, unsigned))
	wantErr(t, err, trust.ErrBadSignature, "unsigned")
}

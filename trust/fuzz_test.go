package trust_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// Decoders must never panic, and every failure must be a classified,
// untrusted error. Seed corpora live in testdata/fuzz/<FuzzName>/.

func FuzzParseEnvelope(f *testing.F) {
	pki := trusttest.NewPKI(f, "acme")
	m := pki.Issue(f, "acme", trust.RoleSupernode)
	f.Add(trusttest.Envelope(f, announceType, []byte(`{"id":"a"}`), m))
	f.Add([]byte(`{"payloadType":"t","payload":"","signatures":[]}`))
	f.Add([]byte(`{"payloadType":"t","payload":"eA==","signatures":[{"keyid":"00","sig":"AA==","certificates":["MA=="]}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := trust.ParseEnvelope(raw)
		if err != nil {
			if !errors.Is(err, trust.ErrUntrusted) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		out, err := env.Marshal()
		if err != nil {
			t.Fatalf("re-encoding a parsed envelope: %v", err)
		}
		again, err := trust.ParseEnvelope(out)
		if err != nil || again.PayloadType != env.PayloadType || !bytes.Equal(again.Payload, env.Payload) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzVerifyEnvelope drives the whole verifier with mutated envelopes: it
// must reject or accept without panicking, and anything it accepts must
// carry a signer from the PKI.
func FuzzVerifyEnvelope(f *testing.F) {
	pki := trusttest.NewPKI(f, "acme")
	v := pki.Verifier(f)
	m := pki.Issue(f, "acme", trust.RoleSupernode)
	f.Add(trusttest.Envelope(f, announceType, []byte(`{"id":"a"}`), m, m))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ve, err := v.VerifyEnvelope(raw)
		if err != nil {
			if !errors.Is(err, trust.ErrUntrusted) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if len(ve.Signers) != 1 || ve.Signers[0].PeerID != m.PeerID() {
			t.Fatalf("accepted signers %v", ve.Signers)
		}
	})
}

func FuzzParseCertificatesPEM(f *testing.F) {
	pki := trusttest.NewPKI(f, "acme")
	m := pki.Issue(f, "acme", trust.RoleSupernode)
	f.Add(trust.EncodeCertificatesPEM(m.Chain...))
	f.Add(trust.EncodeCertificatesPEM(pki.Root.Cert))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := trust.ParseCertificatesPEM(data)
		if err != nil {
			if !errors.Is(err, trust.ErrUntrusted) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if len(certs) == 0 || len(certs) > trust.MaxPEMCertificates {
			t.Fatalf("%d certificates", len(certs))
		}
		for _, c := range certs {
			_, _ = trust.MembershipOf(c)
			_ = trust.FingerprintOf(c)
		}
	})
}

func FuzzParseCSR(f *testing.F) {
	key := newKey(f)
	der, err := trust.NewCSR(key, trust.RoleSupernode, "acme")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(trust.EncodeCSRPEM(der))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := trust.ParseCSR(data)
		if err != nil {
			if !errors.Is(err, trust.ErrUntrusted) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if err := req.Membership.Validate(); err != nil {
			t.Fatalf("accepted an invalid membership: %v", err)
		}
		pid, err := trust.PeerIDFromPublicKey(req.Request.PublicKey)
		if err != nil || pid != req.PeerID {
			t.Fatalf("accepted a request whose peer ID is not its key's: %v", err)
		}
	})
}

func FuzzParseMembership(f *testing.F) {
	ext, _ := trust.Membership{Zone: "acme", Roles: trust.AllRoles}.Extension()
	f.Add(ext.Value)
	f.Fuzz(func(t *testing.T, der []byte) {
		m, err := trust.ParseMembership(der)
		if err != nil {
			if !errors.Is(err, trust.ErrMalformed) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		back, err := m.Extension()
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		if _, err := trust.ParseMembership(back.Value); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

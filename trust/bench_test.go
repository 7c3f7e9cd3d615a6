package trust_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// benchPayload is about the size of a real announcement (1 KiB of JSON).
var benchPayload = bytes.Repeat([]byte(`{"id":"PATCH-1","v":1}`), 47)

var benchAlgs = []trust.KeyAlgorithm{trust.KeyEd25519, trust.KeyECDSAP256}

// benchSetup is one signer and its encoded, signed envelope.
func benchSetup(b *testing.B, alg trust.KeyAlgorithm) (*trusttest.PKI, *trusttest.Member, []byte) {
	b.Helper()
	pki := trusttest.NewPKI(b, "acme")
	m := pki.IssueWith(b, "acme", trusttest.IssueOptions{KeyType: alg, Roles: []trust.Role{trust.RoleSupernode}})
	return pki, m, trusttest.Envelope(b, announceType, benchPayload, m)
}

// Envelope verification with the signer's chain cached: decode, one
// fingerprint, one signature check. Compare with BenchmarkEd25519Verify /
// BenchmarkECDSAP256Verify from the same run.
func BenchmarkVerifyEnvelopeCached(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			pki, _, raw := benchSetup(b, alg)
			v := pki.Verifier(b)
			if _, err := v.VerifyEnvelope(raw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyEnvelope(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Envelope verification with nothing cached: the chain is parsed and
// verified to the root on every call (two certificate signatures plus the
// envelope's). A one-entry cache and two alternating signers defeat caching.
func BenchmarkVerifyEnvelopeCold(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			pki, _, raw := benchSetup(b, alg)
			v, envs := coldVerifier(b, pki, alg, raw)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := v.VerifyEnvelope(envs[i%2]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// The baseline: a bare Ed25519 verification of the same PAE bytes.
func BenchmarkEd25519Verify(b *testing.B) {
	_, m, raw := benchSetup(b, trust.KeyEd25519)
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		b.Fatal(err)
	}
	pae := trust.PAE(env.PayloadType, env.Payload)
	pub := m.Key.Public().(ed25519.PublicKey)
	sig := env.Signatures[0].Sig
	for b.Loop() {
		if !ed25519.Verify(pub, pae, sig) {
			b.Fatal("bad signature")
		}
	}
}

// The baseline: a bare ECDSA P-256 verification (SHA-256 of the same PAE
// bytes, then ecdsa.VerifyASN1).
func BenchmarkECDSAP256Verify(b *testing.B) {
	_, m, raw := benchSetup(b, trust.KeyECDSAP256)
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		b.Fatal(err)
	}
	pae := trust.PAE(env.PayloadType, env.Payload)
	pub := m.Key.Public().(*ecdsa.PublicKey)
	sig := env.Signatures[0].Sig
	for b.Loop() {
		d := sha256.Sum256(pae)
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			b.Fatal("bad signature")
		}
	}
}

// The decoding share of a cached verification: JSON and base64 only.
func BenchmarkParseEnvelope(b *testing.B) {
	_, _, raw := benchSetup(b, trust.KeyEd25519)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := trust.ParseEnvelope(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// Cached and cold envelope verification against the bare signature check,
// timed alternately within one loop so all three see the same machine load
// (on a busy host, separate benchmarks drift apart by more than the effect
// measured). Reports each one's median (medians shrug off preemption
// spikes) and the ratios of the medians; the goal is cached/bare ≤ 1.3.
func BenchmarkCachedOverBare(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			pki, m, raw := benchSetup(b, alg)
			v := pki.Verifier(b)
			if _, err := v.VerifyEnvelope(raw); err != nil {
				b.Fatal(err)
			}
			cold, coldEnvs := coldVerifier(b, pki, alg, raw)
			env, err := trust.ParseEnvelope(raw)
			if err != nil {
				b.Fatal(err)
			}
			bare := bareVerifier(b, m, env)
			var cached, base, colds []time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				if _, err := v.VerifyEnvelope(raw); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if !bare() {
					b.Fatal("bad signature")
				}
				t2 := time.Now()
				if _, err := cold.VerifyEnvelope(coldEnvs[i%2]); err != nil {
					b.Fatal(err)
				}
				i++
				cached, base, colds = append(cached, t1.Sub(t0)), append(base, t2.Sub(t1)), append(colds, time.Since(t2))
			}
			mc, mb, mo := median(cached), median(base), median(colds)
			b.ReportMetric(float64(mb.Nanoseconds()), "bare-p50-ns")
			b.ReportMetric(float64(mc.Nanoseconds()), "cached-p50-ns")
			b.ReportMetric(float64(mo.Nanoseconds()), "cold-p50-ns")
			b.ReportMetric(float64(mc)/float64(mb), "cached/bare")
			b.ReportMetric(float64(mo)/float64(mb), "cold/bare")
		})
	}
}

// coldVerifier is a verifier that can cache one chain and two envelopes by
// different signers, so alternating between them never hits the cache.
func coldVerifier(b *testing.B, pki *trusttest.PKI, alg trust.KeyAlgorithm, raw []byte) (*trust.Verifier, [][]byte) {
	m2 := pki.IssueWith(b, "acme", trusttest.IssueOptions{KeyType: alg, Roles: []trust.Role{trust.RoleSupernode}})
	cfg := pki.VerifierConfig()
	cfg.CacheSize = 1
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return v, [][]byte{raw, trusttest.Envelope(b, announceType, benchPayload, m2)}
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// bareVerifier is the bare signature check of env's first signature.
func bareVerifier(b *testing.B, m *trusttest.Member, env *trust.Envelope) func() bool {
	pae := trust.PAE(env.PayloadType, env.Payload)
	sig := env.Signatures[0].Sig
	switch pub := m.Key.Public().(type) {
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(pub, pae, sig) }
	case *ecdsa.PublicKey:
		return func() bool {
			d := sha256.Sum256(pae)
			return ecdsa.VerifyASN1(pub, d[:], sig)
		}
	}
	b.Fatalf("unsupported key %T", m.Key.Public())
	return nil
}

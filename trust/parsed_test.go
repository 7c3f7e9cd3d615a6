package trust

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"
)

// selfSigned returns the DER of a fresh self-signed certificate named cn.
func selfSigned(t *testing.T, cn string) []byte {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParsedCertificatesShareOneParse(t *testing.T) {
	a, b := selfSigned(t, "a"), selfSigned(t, "b")
	first, err := ParseCertificateDER(a)
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes from another buffer, as a second peer presents them.
	again, err := ParseCertificateDER(append([]byte(nil), a...))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("the same DER parsed twice gave two certificates")
	}
	other, err := ParseCertificateDER(b)
	if err != nil {
		t.Fatal(err)
	}
	if other == first || other.Subject.CommonName != "b" {
		t.Errorf("different DER gave %q, want its own certificate b", other.Subject.CommonName)
	}
	// The certificate keeps its own bytes: the caller's buffer may be a
	// whole message, reused or overwritten.
	clear(a)
	if first.Subject.CommonName != "a" || first.Raw[0] == 0 {
		t.Error("the cached certificate shares the caller's buffer")
	}
	runtime.KeepAlive(first)
}

func TestParsedCertificatesRejectWhatParseRejects(t *testing.T) {
	der := selfSigned(t, "c")
	if _, err := ParseCertificateDER(der[:len(der)-1]); err == nil {
		t.Fatal("a truncated certificate parsed")
	}
	// A cached certificate never answers for other bytes: trailing data
	// is still refused after the certificate itself was parsed.
	if _, err := ParseCertificateDER(der); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCertificateDER(append(der, 0)); err == nil {
		t.Fatal("a certificate with trailing data parsed once its prefix was cached")
	}
}

func TestParsedCertificatesForgetFreedOnes(t *testing.T) {
	p := &parsedCertificates{m: map[Fingerprint]weak.Pointer[x509.Certificate]{}}
	for i := range 8 {
		if _, err := p.parse(selfSigned(t, string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.len(); n != 8 {
		t.Fatalf("%d cached, want 8", n)
	}
	// Cleanups run after a collection, on their own goroutine: wait for
	// them, collecting again, rather than for a fixed time.
	for round := 0; p.len() > 0; round++ {
		if round == 1000 {
			t.Fatalf("%d freed certificates still cached after %d collections", p.len(), round)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

func TestParsedCertificatesConcurrentParsesAgree(t *testing.T) {
	der := selfSigned(t, "d")
	certs := make([]*x509.Certificate, 16)
	var wg sync.WaitGroup
	for i := range certs {
		wg.Go(func() {
			c, err := ParseCertificateDER(append([]byte(nil), der...))
			if err != nil {
				t.Error(err)
			}
			certs[i] = c
		})
	}
	wg.Wait()
	for i, c := range certs {
		if c != certs[0] {
			t.Errorf("parse %d gave another certificate than parse 0", i)
		}
	}
}

// len is how many certificates p caches, freed or not.
func (p *parsedCertificates) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

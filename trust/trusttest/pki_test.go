package trusttest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

func TestFakeClock(t *testing.T) {
	c := trusttest.NewFakeClock(trusttest.Epoch)
	c.Advance(time.Hour)
	if got := c.Now(); !got.Equal(trusttest.Epoch.Add(time.Hour)) {
		t.Fatalf("Now = %s", got)
	}
	c.Set(trusttest.Epoch)
	if !c.Now().Equal(trusttest.Epoch) {
		t.Fatal("Set did not move the clock")
	}
}

// The PKI's members verify with its verifier and carry the identity the
// verifier reports; revocation through the PKI takes effect.
func TestPKIIssueVerifyRevoke(t *testing.T) {
	pki := trusttest.NewPKI(t, "a", "b")
	v := pki.Verifier(t)
	for _, zone := range []string{"a", "b"} {
		m := pki.Issue(t, zone, trust.RoleSupernode, trust.RolePublisher)
		id, err := v.VerifyPeer(m.PeerID(), m.ChainDER())
		if err != nil {
			t.Fatal(err)
		}
		if id.Fingerprint != m.Identity.Fingerprint || id.Zone != zone || !id.HasRole(trust.RolePublisher) {
			t.Fatalf("verified %+v, member says %+v", id, m.Identity)
		}
		if _, err := m.LibP2PKey(t).GetPublic().Raw(); err != nil {
			t.Fatal(err)
		}
		if _, err := v.AddCRL(pki.Revoke(t, zone, m)); err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyPeer(m.PeerID(), m.ChainDER()); !errors.Is(err, trust.ErrRevoked) {
			t.Fatalf("after Revoke: %v", err)
		}
	}
	if got := len(pki.Intermediates()); got != 2 {
		t.Fatalf("%d zone CAs, want 2", got)
	}
}

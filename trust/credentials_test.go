package trust_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

func TestLoadCredentials(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	m := pki.Issue(t, "acme", trust.RoleSupernode)
	other := pki.Issue(t, "acme")
	dir := t.TempDir()
	keyPath, certPath := filepath.Join(dir, "node.key"), filepath.Join(dir, "node.crt")
	if err := trust.WriteKeyFile(keyPath, m.Key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, trust.EncodeCertificatesPEM(m.Chain...), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := trust.LoadCredentials(keyPath, certPath)
	if err != nil {
		t.Fatal(err)
	}
	if c.PeerID != m.PeerID() {
		t.Fatalf("peer ID %s, want %s", c.PeerID, m.PeerID())
	}
	lk, err := c.LibP2PKey()
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := peer.IDFromPrivateKey(lk); id != c.PeerID {
		t.Fatalf("libp2p identity %s differs from certificate peer %s", id, c.PeerID)
	}
	env := trust.NewEnvelope(announceType, []byte("x"))
	if err := c.Sign(env); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Verifier(t).VerifyPeer(c.PeerID, c.ChainDER()); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, pki.Verifier(t), mustJSON(t, env))

	if err := os.WriteFile(certPath, trust.EncodeCertificatesPEM(other.Chain...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.LoadCredentials(keyPath, certPath); err == nil || !strings.Contains(err.Error(), "does not hold this key") {
		t.Fatalf("LoadCredentials with another node's certificate = %v", err)
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// cert verify --require-crl refuses a zone whose CRL was not given (fail
// closed), and accepts once it is.
func TestCertVerifyRequireCRL(t *testing.T) {
	dir := t.TempDir()
	p := func(parts ...string) string { return filepath.Join(append([]string{dir}, parts...)...) }
	mustRun(t, "ca", "init-root", "--out", p("root"))
	mustRun(t, "ca", "init-zone", "--root", p("root"), "--zone", "lab", "--out", p("zone"), "--roles", "agent")
	mustRun(t, "cert", "request", "--role", "agent", "--zone", "lab", "--out", p("n"))
	mustRun(t, "ca", "sign", "--ca", p("zone"), p("n", "node.csr"))
	_, err := runPKI(t, "cert", "verify", "--require-crl", "--root", p("root", "root.crt"), p("n", "node.crt"))
	if err == nil || !strings.Contains(err.Error(), "no CRL from zone CA lab") {
		t.Fatalf("verify --require-crl without a CRL: %v", err)
	}
	_, err = runPKI(t, "cert", "verify", "--require-crl", "--root", p("root", "root.crt"), "--crl", p("zone", "zone.crl"), p("n", "node.crt"))
	if err == nil || !strings.Contains(err.Error(), "no CRL from root CA") {
		t.Fatalf("verify --require-crl without the root's CRL: %v", err)
	}
	out := mustRun(t, "cert", "verify", "--require-crl", "--root", p("root", "root.crt"), "--crl", p("zone", "zone.crl"), "--crl", p("root", "root.crl"), p("n", "node.crt"))
	if !strings.HasPrefix(out, "ok: role agent, zone lab") {
		t.Fatalf("verify with the CRL: %q", out)
	}
	// The zone may grant only agents: a supernode request is refused.
	mustRun(t, "cert", "request", "--role", "supernode", "--zone", "lab", "--out", p("s"))
	if _, err := runPKI(t, "ca", "sign", "--ca", p("zone"), p("s", "node.csr")); err == nil || !strings.Contains(err.Error(), "role supernode") {
		t.Fatalf("signing a supernode request in an agent-only zone: %v", err)
	}
}

func TestCertShowKinds(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "ca", "init-root", "--out", filepath.Join(dir, "root"), "--key-type", "ecdsa-p256", "--name", "Lab root")
	out := mustRun(t, "cert", "show", filepath.Join(dir, "root", "root.crt"))
	for _, want := range []string{"root CA certificate", "CN=Lab root", "ecdsa-p256", "fingerprint:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("cert show root lacks %q:\n%s", want, out)
		}
	}
}

// TestRootsSpellingAccepted: earlier versions spelt the pinned-roots flag
// --roots on some commands; every command now takes --root and still
// understands --roots.
func TestRootsSpellingAccepted(t *testing.T) {
	for name, cmd := range map[string]*cobra.Command{
		"apply": newApplyCmd(), "agent": newAgentCmd(), "supernode": newSupernodeCmd(), "cert verify": newCertVerifyCmd(),
	} {
		if err := cmd.Flags().Parse([]string{"--roots", "a.crt", "--root", "b.crt"}); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, _ := cmd.Flags().GetStringSlice("root")
		if arr, err := cmd.Flags().GetStringArray("root"); err == nil {
			got = arr
		}
		if diff := cmp.Diff([]string{"a.crt", "b.crt"}, got); diff != "" {
			t.Errorf("%s: --root after --roots and --root (-want +got):\n%s", name, diff)
		}
	}
}

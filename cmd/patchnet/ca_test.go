package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runPKI runs one patchnet command line on a fresh tree of the ca, cert and
// update commands (so flag values never leak between runs) and returns its
// output.
func runPKI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "patchnet", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newCACmd(), newCertCmd(), newUpdateCmd())
	requireKnownSubcommands(root)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runPKI(t, args...)
	if err != nil {
		t.Fatalf("patchnet %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// opensslVerify runs the real openssl verify; it skips only if openssl is
// absent.
func opensslVerify(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (make deps installs it)")
	}
	out, err := exec.Command(bin, append([]string{"verify"}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// The README flow: root → zone → a supernode and an agent certificate →
// revoke the agent → cert verify and openssl agree at every step.
func TestCLIPKIFlow(t *testing.T) {
	dir := t.TempDir()
	p := func(parts ...string) string { return filepath.Join(append([]string{dir}, parts...)...) }
	mustRun(t, "ca", "init-root", "--out", p("root"), "--name", "ACME root")
	mustRun(t, "ca", "init-zone", "--root", p("root"), "--zone", "acme", "--out", p("zone-acme"))
	mustRun(t, "cert", "request", "--role", "supernode", "--zone", "acme", "--out", p("sn1"))
	mustRun(t, "cert", "request", "--role", "agent", "--zone", "acme", "--out", p("ag1"), "--key-type", "ecdsa-p256")
	mustRun(t, "ca", "sign", "--ca", p("zone-acme"), p("sn1", "node.csr"))
	mustRun(t, "ca", "sign", "--ca", p("zone-acme"), "--days", "30", p("ag1", "node.csr"))

	rootCrt, zoneCrt, crl := p("root", "root.crt"), p("zone-acme", "zone.crt"), p("zone-acme", "zone.crl")
	for name, role := range map[string]string{"sn1": "supernode", "ag1": "agent"} {
		out := mustRun(t, "cert", "verify", "--root", rootCrt, "--crl", crl, p(name, "node.crt"))
		if !strings.HasPrefix(out, "ok: role "+role+", zone acme, peer 12D3Koo") && !strings.HasPrefix(out, "ok: role "+role+", zone acme, peer Qm") {
			t.Fatalf("cert verify %s: %q", name, out)
		}
		if out, ok := opensslVerify(t, "-CAfile", rootCrt, "-untrusted", zoneCrt, p(name, "node.crt")); !ok {
			t.Fatalf("openssl rejects %s: %s", name, out)
		}
	}

	mustRun(t, "ca", "revoke", "--ca", p("zone-acme"), "--reason", "keyCompromise", p("ag1", "node.crt"))
	out := mustRun(t, "ca", "crl", "--ca", p("zone-acme"))
	if !strings.Contains(out, "CRL number 2, 1 revoked") {
		t.Fatalf("ca crl: %q", out)
	}
	out, err := runPKI(t, "cert", "verify", "--root", rootCrt, "--crl", crl, p("ag1", "node.crt"))
	if err == nil || !strings.Contains(err.Error(), "revoked by zone CA acme at") || strings.Contains(out, "ok:") {
		t.Fatalf("cert verify of the revoked agent: %v (output %q)", err, out)
	}
	if out, ok := opensslVerify(t, "-crl_check", "-CAfile", rootCrt, "-untrusted", zoneCrt, "-CRLfile", crl, p("ag1", "node.crt")); ok || !strings.Contains(out, "revoked") {
		t.Fatalf("openssl -crl_check accepts the revoked agent: %s", out)
	}
	mustRun(t, "cert", "verify", "--root", rootCrt, "--crl", crl, p("sn1", "node.crt"))
	if out, ok := opensslVerify(t, "-crl_check", "-CAfile", rootCrt, "-untrusted", zoneCrt, "-CRLfile", crl, p("sn1", "node.crt")); !ok {
		t.Fatalf("openssl -crl_check rejects the supernode: %s", out)
	}

	// Verifying against another organisation's root fails and says why.
	mustRun(t, "ca", "init-root", "--out", p("other"))
	_, err = runPKI(t, "cert", "verify", "--root", p("other", "root.crt"), p("sn1", "node.crt"))
	if err == nil || !strings.Contains(err.Error(), "pinned root") {
		t.Fatalf("cert verify under a foreign root: %v", err)
	}

	show := mustRun(t, "cert", "show", p("sn1", "node.crt"))
	for _, want := range []string{"node certificate", "zone:", "acme", "roles:", "supernode", "peer ID:", "not after:", "fingerprint:", "zone CA certificate"} {
		if !strings.Contains(show, want) {
			t.Fatalf("cert show lacks %q:\n%s", want, show)
		}
	}
	key, err := os.ReadFile(p("sn1", "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{show, out} {
		if strings.Contains(o, "PRIVATE KEY") || strings.Contains(o, strings.Split(string(key), "\n")[1]) {
			t.Fatal("a command printed private key material")
		}
	}
}

func TestCLIRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "ca", "init-root", "--out", filepath.Join(dir, "root"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ca", "init-root", "--out", filepath.Join(dir, "root")}, "refusing to overwrite"},
		{[]string{"ca", "init-root", "--out", filepath.Join(dir, "x"), "--key-type", "rsa"}, "unknown key type"},
		{[]string{"ca", "init-zone", "--root", filepath.Join(dir, "root"), "--zone", "bad zone", "--out", filepath.Join(dir, "z")}, "zone name"},
		{[]string{"ca", "init-zone", "--root", filepath.Join(dir, "root"), "--zone", "z", "--out", filepath.Join(dir, "z"), "--roles", "admin"}, "unknown role"},
		{[]string{"cert", "request", "--role", "king", "--zone", "acme", "--out", filepath.Join(dir, "n")}, "unknown role"},
		{[]string{"cert", "request", "--role", "agent", "--out", filepath.Join(dir, "n")}, `"zone" not set`},
		{[]string{"ca", "sign", "--ca", filepath.Join(dir, "root"), filepath.Join(dir, "missing.csr")}, "no such file"},
		{[]string{"ca", "revoke", "--ca", filepath.Join(dir, "root"), "--reason", "bored", "x.crt"}, "unknown revocation reason"},
		{[]string{"cert", "show", filepath.Join(dir, "root", "root.key")}, "no CERTIFICATE"},
		{[]string{"cert", "verify", filepath.Join(dir, "root", "root.crt")}, `"root" not set`},
	} {
		_, err := runPKI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("patchnet %s: %v, want an error mentioning %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// Every PKI command is registered on the real root command and documents
// itself with an example.
func TestCLIHelpHasExamples(t *testing.T) {
	for _, path := range [][]string{
		{"ca", "init-root"}, {"ca", "init-zone"}, {"ca", "sign"}, {"ca", "revoke"}, {"ca", "crl"},
		{"cert", "request"}, {"cert", "verify"}, {"cert", "show"},
	} {
		cmd, _, err := rootCmd.Find(path)
		if err != nil || cmd.Name() != path[1] {
			t.Fatalf("patchnet %s is not registered: %v", strings.Join(path, " "), err)
		}
		if !strings.Contains(cmd.Example, "patchnet "+strings.Join(path, " ")) {
			t.Errorf("patchnet %s: example does not show the command", strings.Join(path, " "))
		}
		out, err := runPKI(t, append(path, "--help")...)
		if err != nil || !strings.Contains(out, "Examples:") {
			t.Errorf("patchnet %s --help: %v\n%s", strings.Join(path, " "), err, out)
		}
	}
}

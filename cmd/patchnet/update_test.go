package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// cliZone makes a root, zone acme, a publisher and two supernodes with the
// real ca and cert commands.
func cliZone(t *testing.T) func(parts ...string) string {
	dir := t.TempDir()
	p := func(parts ...string) string { return filepath.Join(append([]string{dir}, parts...)...) }
	mustRun(t, "ca", "init-root", "--out", p("root"))
	mustRun(t, "ca", "init-zone", "--root", p("root"), "--zone", "acme", "--out", p("zone"))
	for _, m := range []struct{ name, role string }{{"pub", "publisher"}, {"sn1", "supernode"}, {"sn2", "supernode"}, {"agent", "agent"}} {
		mustRun(t, "cert", "request", "--role", m.role, "--zone", "acme", "--out", p(m.name))
		mustRun(t, "ca", "sign", "--ca", p("zone"), p(m.name, "node.csr"))
	}
	return p
}

// The README flow: author, sign, co-sign twice, show, and an agent's
// acceptance pipeline takes the result.
func TestUpdateAuthorSignCosignAccept(t *testing.T) {
	p := cliZone(t)
	artifact := p("openssl_3.0.23-1~deb12u1_amd64.deb")
	data := bytes.Repeat([]byte("not really a deb "), 100000)
	if err := os.WriteFile(artifact, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "update", "new", "--id", "DSA-9001-1", "--version", "3", "--artifact", artifact, "--method", "dpkg",
		"--ecosystem", "Debian:12", "--package", "openssl", "--fixed", "3.0.23-1~deb12u1", "--cve", "CVE-2026-0001",
		"--summary", "openssl - security update", "--url", "https://deb.example.org/openssl.deb", "--reboot-required", "--out", p("ann.json"))
	raw, _ := os.ReadFile(p("ann.json"))
	a, err := updates.DecodeAnnouncement(raw)
	if err != nil {
		t.Fatal(err)
	}
	ar := a.Patchnet.Artifact
	if ar.Size != int64(len(data)) || ar.SHA256 != sha256.Sum256(data) || !strings.HasPrefix(ar.ContentID, "bafy") ||
		ar.Name != filepath.Base(artifact) || !a.Patchnet.RebootRequired || a.Affected[0].Ranges[0].Events[1].Fixed != "3.0.23-1~deb12u1" {
		t.Fatalf("announcement = %+v, artifact %+v", a, ar)
	}
	env := p("envelope.json")
	root := p("root", "root.crt")
	mustRun(t, "update", "sign", "--key", p("pub", "node.key"), "--cert", p("pub", "node.crt"), p("ann.json"), "--out", env)
	for _, sn := range []string{"sn1", "sn2"} {
		mustRun(t, "update", "sign", "--key", p(sn, "node.key"), "--cert", p(sn, "node.crt"), "--root", root, env, "--out", env)
	}
	show := mustRun(t, "update", "show", "--root", root, env)
	for _, want := range []string{"Announcement DSA-9001-1, version 3", "Signatures: 3", "zone acme, publisher", "zone acme, supernode",
		"Debian:12 openssl [ECOSYSTEM: introduced 0, fixed 3.0.23-1~deb12u1]", "Reboot:", "CVE-2026-0001"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	// An agent pinning the root accepts it with k = 2.
	rootCerts, err := trust.ReadCertificatesFile(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := trust.DefaultVerifierConfig()
	cfg.Roots = rootCerts
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	envRaw, _ := os.ReadFile(env)
	if e, err := trust.ParseEnvelope(envRaw); err == nil {
		v.LearnZoneCAs(e)
	}
	for _, crl := range []string{p("zone", "zone.crl"), p("root", "root.crl")} {
		der, err := trust.ReadCRLFile(crl)
		if err == nil {
			_, err = v.AddCRL(der)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	zone, err := v.BindZone("acme")
	if err != nil {
		t.Fatal(err)
	}
	ac, err := updates.NewAcceptor(v, updates.DefaultPolicy(zone), updates.NewMemorySeenStore())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Accept(envRaw); err != nil {
		t.Fatalf("agent refused the CLI-made envelope: %v", err)
	}
}

func TestUpdateSignRefusals(t *testing.T) {
	p := cliZone(t)
	artifact := p("a.sh")
	os.WriteFile(artifact, []byte("#!/bin/sh\necho hi\n"), 0o644)
	mustRun(t, "update", "new", "--id", "PN-1", "--version", "1", "--artifact", artifact, "--method", "script", "--out", p("ann.json"))
	root := p("root", "root.crt")

	// An invalid announcement is never signed.
	var a map[string]any
	raw, _ := os.ReadFile(p("ann.json"))
	json.Unmarshal(raw, &a)
	a["patchnet"].(map[string]any)["categories"] = []string{"urgent"}
	bad, _ := json.Marshal(a)
	os.WriteFile(p("bad.json"), bad, 0o644)
	out, err := runPKI(t, "update", "sign", "--key", p("pub", "node.key"), "--cert", p("pub", "node.crt"), p("bad.json"), "--out", p("x.json"))
	if err == nil || !strings.Contains(err.Error(), `patchnet.categories[0]: "urgent" is not one of`) {
		t.Fatalf("sign invalid = %v\n%s", err, out)
	}
	// A supernode with --root refuses an envelope no publisher signed.
	mustRun(t, "update", "sign", "--key", p("agent", "node.key"), "--cert", p("agent", "node.crt"), p("ann.json"), "--out", p("agent.json"))
	_, err = runPKI(t, "update", "sign", "--key", p("sn1", "node.key"), "--cert", p("sn1", "node.crt"), "--root", root, p("agent.json"), "--out", p("y.json"))
	if !errors.Is(err, trust.ErrInsufficientSigners) || !strings.Contains(err.Error(), "refusing to co-sign") {
		t.Fatalf("co-sign without publisher = %v", err)
	}
	if _, err := os.Stat(p("y.json")); err == nil {
		t.Error("refused co-signature still wrote its output")
	}
	// A tampered envelope is refused before co-signing.
	mustRun(t, "update", "sign", "--key", p("pub", "node.key"), "--cert", p("pub", "node.crt"), p("ann.json"), "--out", p("env.json"))
	envRaw, _ := os.ReadFile(p("env.json"))
	env, _ := trust.ParseEnvelope(envRaw)
	ann, _ := updates.DecodeAnnouncement(env.Payload)
	ann.Patchnet.Version = 99
	env.Payload, _ = ann.Marshal()
	tampered, _ := env.Marshal()
	os.WriteFile(p("tampered.json"), tampered, 0o644)
	_, err = runPKI(t, "update", "sign", "--key", p("sn1", "node.key"), "--cert", p("sn1", "node.crt"), "--root", root, p("tampered.json"), "--out", p("z.json"))
	if !errors.Is(err, trust.ErrBadSignature) {
		t.Fatalf("co-sign tampered = %v", err)
	}
	show, err := runPKI(t, "update", "show", "--root", root, p("tampered.json"))
	if err == nil || !strings.Contains(show, "NONE VALID") {
		t.Fatalf("show tampered = %v\n%s", err, show)
	}
}

func TestUpdateFromOSV(t *testing.T) {
	dir := t.TempDir()
	artifact := filepath.Join(dir, "libcrypto3-3.3.2-r1.apk")
	os.WriteFile(artifact, []byte("apk bytes"), 0o644)
	out := filepath.Join(dir, "ann.json")
	mustRun(t, "update", "from-osv", "../../updates/testdata/advisories/alpine-cve-2024-9143.json", "--version", "2",
		"--artifact", artifact, "--method", "apk", "--category", "security", "--category", "bugfix", "--out", out)
	raw, _ := os.ReadFile(out)
	a, err := updates.DecodeAnnouncement(raw)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "ALPINE-CVE-2024-9143" || a.Patchnet.Version != 2 || len(a.Patchnet.Categories) != 2 || a.Affected[0].Package.Ecosystem != "Alpine:v3.20" {
		t.Fatalf("from-osv = %+v", a)
	}
	show := mustRun(t, "update", "show", out)
	if !strings.Contains(show, "Signatures: none") || !strings.Contains(show, "Alpine:v3.20 openssl") {
		t.Errorf("show:\n%s", show)
	}
	if _, err := runPKI(t, "update", "from-osv", out, "--version", "3", "--artifact", artifact, "--method", "apk"); err == nil ||
		!strings.Contains(err.Error(), `already has a "patchnet" key`) {
		t.Fatalf("from-osv of an announcement = %v", err)
	}
}

func TestUpdateNewRefusals(t *testing.T) {
	dir := t.TempDir()
	artifact := filepath.Join(dir, "a.deb")
	os.WriteFile(artifact, []byte("x"), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--id", "X-1", "--version", "0", "--artifact", artifact, "--method", "dpkg"}, "--version: required"},
		{[]string{"--id", "X-1", "--version", "1", "--artifact", artifact}, "--method: required with --artifact"},
		{[]string{"--id", "X-1", "--version", "1", "--artifact", artifact, "--method", "msi"}, `patchnet.artifact.method: "msi"`},
		{[]string{"--id", "X-1", "--version", "1", "--artifact", artifact, "--method", "dpkg", "--package", "openssl"}, "--ecosystem: required"},
		{[]string{"--id", "X-1", "--version", "1", "--artifact", artifact, "--method", "dpkg", "--ecosystem", "Debian:12", "--package", "openssl", "--fixed", "not-a-version"}, "parsing Debian version"},
		{[]string{"--id", "X-1", "--version", "1"}, "patchnet.artifact: required"},
		{[]string{"--id", "X-1", "--version", "1", "--artifact", filepath.Join(dir, "missing"), "--method", "dpkg"}, "reading artifact"},
		{[]string{"--id", "X-1", "--version", "1", "--artifact", artifact, "--method", "dpkg", "--expires", "9000h"}, "patchnet.expires"},
	}
	for _, tt := range tests {
		_, err := runPKI(t, append([]string{"update", "new"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("update new %v = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestUpdateHelpHasExamples(t *testing.T) {
	for _, c := range newUpdateCmd().Commands() {
		if c.Example == "" || c.Long == "" {
			t.Errorf("update %s has no example or long help", c.Name())
		}
	}
}

// 'update sign' and 'update show' take the zone CRL that apply takes: the
// zone CA travels in the envelope's chains and is learnt before the CRL is
// loaded, and a certificate the CRL revokes then no longer counts.
func TestUpdateSignAndShowTakeZoneCRL(t *testing.T) {
	p := cliZone(t)
	artifact := p("a.sh")
	writeTestFile(t, artifact, "#!/bin/sh\necho hi\n")
	mustRun(t, "update", "new", "--id", "PN-7", "--version", "1", "--artifact", artifact, "--method", "script", "--out", p("ann.json"))
	root, crl, env := p("root", "root.crt"), p("zone", "zone.crl"), p("env.json")
	mustRun(t, "update", "sign", "--key", p("pub", "node.key"), "--cert", p("pub", "node.crt"), p("ann.json"), "--out", env)
	mustRun(t, "update", "sign", "--key", p("sn1", "node.key"), "--cert", p("sn1", "node.crt"), "--root", root, "--crl", crl, env, "--out", env)
	show := mustRun(t, "update", "show", "--root", root, "--crl", crl, env)
	if strings.Count(show, "valid: ") != 2 || strings.Contains(show, "REJECTED") {
		t.Fatalf("show with the zone CRL:\n%s", show)
	}

	mustRun(t, "ca", "revoke", "--ca", p("zone"), "--reason", "keyCompromise", p("sn1", "node.crt"))
	mustRun(t, "ca", "crl", "--ca", p("zone"))
	show = mustRun(t, "update", "show", "--root", root, "--crl", crl, env)
	if strings.Count(show, "valid: ") != 1 || !strings.Contains(show, "REJECTED") || !strings.Contains(show, "revoked") {
		t.Errorf("show with sn1 revoked:\n%s", show)
	}
	mustRun(t, "ca", "revoke", "--ca", p("zone"), "--reason", "keyCompromise", p("pub", "node.crt"))
	mustRun(t, "ca", "crl", "--ca", p("zone"))
	_, err := runPKI(t, "update", "sign", "--key", p("sn2", "node.key"), "--cert", p("sn2", "node.crt"), "--root", root, "--crl", crl, env, "--out", p("x.json"))
	if !errors.Is(err, trust.ErrRevoked) || !strings.Contains(err.Error(), "refusing to co-sign") {
		t.Errorf("co-signing after the publisher's revocation: %v", err)
	}
}

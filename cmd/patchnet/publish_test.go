package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// publishLab is a running zone (recording installers: publish is about the
// zone, not dpkg) and a config file for a second publisher of it, as an
// operator would write one for `patchnet publish`.
func publishLab(t *testing.T) (*nodelab.Lab, string) {
	t.Helper()
	return publishLabWith(t, nil)
}

// publishLabWith is publishLab with each lab node's config adjusted by
// configure.
func publishLabWith(t *testing.T, configure func(name string, cfg *node.Config)) (*nodelab.Lab, string) {
	t.Helper()
	l, err := nodelab.New(context.Background(), nodelab.Options{Dir: t.TempDir(), Agents: 2, Supernodes: 2, Threshold: 2, FakeInstaller: true,
		Configure: configure})
	if err != nil {
		t.Fatalf("starting the lab: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	dir := t.TempDir()
	key, csr, err := ca.Request(dir, ca.RequestOptions{Role: trust.RolePublisher, Zone: l.Zone})
	if err != nil {
		t.Fatal(err)
	}
	crt, _, err := ca.SignFile(filepath.Join(l.Dir, "pki", "zone"), csr, ca.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var boot []string
	for _, a := range l.Publisher.Overlay().Addrs() {
		boot = append(boot, fmt.Sprintf("%q", a.String()))
	}
	crls := l.CRLFiles()
	cfg := filepath.Join(dir, "publisher.toml")
	writeTestFile(t, cfg, fmt.Sprintf(`state = %q
key = %q
cert = %q
roots = [%q]
crl = [%q, %q]
zone = %q
threshold = 2

[overlay]
listen_addrs = ["/ip4/127.0.0.1/tcp/0"]
bootstrap_peers = [%s]
`, filepath.Join(dir, "state"), key, crt, l.RootCert, crls[0], crls[1], l.Zone, strings.Join(boot, ", ")))
	return l, cfg
}

// waitAgents waits until every agent of l passes cond.
func waitAgents(t *testing.T, l *nodelab.Lab, what string, cond func(node.Status) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := true
		for _, a := range l.Agents {
			done = done && cond(a.Status())
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for every agent to %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A publisher's process joins a running zone from its config, signs the
// announcement, seeds the artifact, reports each supernode's co-signature
// and exits 0 once k co-signed; the agents install it.
func TestPublishIntoRunningZone(t *testing.T) {
	l, cfg := publishLab(t)
	fix, err := l.Fix(context.Background(), "PNT-2026-0201", 1)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := fix.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ann := filepath.Join(t.TempDir(), "fix.json")
	writeTestFile(t, ann, string(payload))
	out, err := runCommand(t, newPublishCmd(), ann, "--artifact", l.Debs[nodelab.NewVersion], "--config", cfg, "--wait", "60s")
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	for _, want := range []string{"joined zone demo", "published PNT-2026-0201 version 1", "(1/2)", "(2/2)", "2 supernode(s) co-signed", "artifact bytes to peers\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("publish output lacks %q:\n%s", want, out)
		}
	}
	waitAgents(t, l, "install the published fix", func(s node.Status) bool { return s.Has(node.EventInstalled) })
}

// One supernode's [cosign] policy binds publishers to another vendor
// origin: publish shows the other supernode checking and co-signing, this
// one refusing and why, and fails as soon as k co-signatures cannot come,
// the refusal in its error.
func TestPublishShowsSupernodeRefusal(t *testing.T) {
	l, cfg := publishLabWith(t, func(name string, cfg *node.Config) {
		if name == "supernode-2" {
			p := cfg.CoSign.Publishers["*"]
			p.Origins = []string{"http://127.0.0.1:1/elsewhere/"}
			cfg.CoSign.Publishers["*"] = p
		}
	})
	fix, err := l.Fix(context.Background(), "PNT-2026-0203", 1)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := fix.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ann := filepath.Join(t.TempDir(), "fix.json")
	writeTestFile(t, ann, string(payload))
	out, err := runCommand(t, newPublishCmd(), ann, "--artifact", l.Debs[nodelab.NewVersion], "--config", cfg, "--wait", "60s")
	refusing := l.Supernodes[1].ID().String()
	if err == nil || !strings.Contains(err.Error(), "supernode "+refusing+": not co-signing PNT-2026-0203") ||
		!strings.Contains(err.Error(), "outside the publisher's vendor origins") || !strings.Contains(err.Error(), "cannot come") {
		t.Fatalf("publish: %v, want a failure naming %s and its reason\n%s", err, refusing, out)
	}
	for _, want := range []string{"supernode " + refusing + " refused: not co-signing PNT-2026-0203 version 1: checking the artifact at the vendor's origin",
		"co-signed by supernode " + l.Supernodes[0].ID().String() + " (1/2)"} {
		if !strings.Contains(out, want) {
			t.Errorf("publish output lacks %q:\n%s", want, out)
		}
	}
}

// publish --crl sends a zone CA's new CRL into the running zone: every
// agent applies it.
func TestPublishCRLIntoRunningZone(t *testing.T) {
	l, cfg := publishLab(t)
	if _, err := l.Revoke(l.Supernodes[1]); err != nil {
		t.Fatal(err)
	}
	crl := l.CRLFiles()[0]
	before := map[string]int{}
	for _, a := range l.Agents {
		before[a.Name] = a.Status().Count[node.EventCRL]
	}
	out, err := runCommand(t, newPublishCmd(), "--crl", crl, "--config", cfg, "--linger", "100ms", "--wait", "60s")
	if err != nil {
		t.Fatalf("publish --crl: %v\n%s", err, out)
	}
	for _, a := range l.Agents {
		deadline := time.Now().Add(30 * time.Second)
		for a.Status().Count[node.EventCRL] <= before[a.Name] {
			if time.Now().After(deadline) {
				t.Fatalf("%s never applied the published CRL\n%s", a.Name, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// publish refuses an artifact that is not the announced one before it
// sends anything, and names what differs.
func TestPublishRefusesWrongArtifact(t *testing.T) {
	l, cfg := publishLab(t)
	fix, err := l.Fix(context.Background(), "PNT-2026-0202", 1)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := fix.Marshal()
	ann := filepath.Join(t.TempDir(), "fix.json")
	writeTestFile(t, ann, string(payload))
	wrong := filepath.Join(t.TempDir(), "wrong.deb")
	if err := os.WriteFile(wrong, []byte("not the fix"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCommand(t, newPublishCmd(), ann, "--artifact", wrong, "--config", cfg, "--wait", "60s")
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") || !strings.Contains(err.Error(), "PNT-2026-0202 announces") {
		t.Fatalf("publish with a wrong artifact: %v\n%s", err, out)
	}
	for _, s := range l.Supernodes {
		if s.Status().Has(node.EventRefused) || s.Status().Has(node.EventCoSigned) {
			t.Errorf("%s saw a proposal publish should not have sent", s.Name)
		}
	}
	if _, err := runCommand(t, newPublishCmd(), "--config", cfg); err == nil {
		t.Error("publish with neither an announcement nor --crl succeeded")
	}
}

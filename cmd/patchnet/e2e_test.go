package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/patchnet/patchnet/node/nodelab"
)

// patchnetBin builds the patchnet binary once for the tests that run it
// as separate processes.
var patchnetBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "patchnet-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "patchnet")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building patchnet: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is one patchnet process with its output collected.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// e2e is a zone of separate patchnet processes set up only through the CLI
// and the config files `patchnet init` writes.
type e2e struct {
	t     *testing.T
	bin   string
	dir   string
	procs []*proc
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	bin, err := patchnetBin()
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(e.stop)
	return e
}

func (e *e2e) path(parts ...string) string {
	return filepath.Join(append([]string{e.dir}, parts...)...)
}

// run runs a patchnet command to completion and returns its output.
func (e *e2e) run(args ...string) string {
	e.t.Helper()
	out, err := exec.Command(e.bin, args...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("patchnet %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start starts a daemon and waits until it prints its listen address,
// which it returns (with /p2p/ID).
func (e *e2e) start(name string, args ...string) (*proc, string) {
	e.t.Helper()
	p := &proc{name: name, cmd: exec.Command(e.bin, args...), done: make(chan struct{})}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.procs = append(e.procs, p)
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			p.Write([]byte(line + "\n"))
			if a, ok := strings.CutPrefix(line, "listening on "); ok && strings.Contains(a, "/tcp/") {
				select {
				case addr <- a:
				default:
				}
			}
		}
	}()
	go func() { p.cmd.Wait(); w.Close() }()
	select {
	case a := <-addr:
		return p, a
	case <-p.done:
		e.t.Fatalf("%s exited before listening:\n%s", name, p.output())
	case <-time.After(60 * time.Second):
		e.t.Fatalf("%s did not listen within 60s:\n%s", name, p.output())
	}
	return nil, ""
}

// stop sends SIGTERM to every daemon and waits for it.
func (e *e2e) stop() {
	for _, p := range e.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range e.procs {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// waitOutput waits until p printed a line containing want.
func (e *e2e) waitOutput(p *proc, want string) {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(p.output(), want) {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never printed %q:\n%s", p.name, want, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vendor serves the fix and its detached OpenPGP signature on loopback,
// and writes the vendor's public key to keyFile.
func vendor(t *testing.T, deb, keyFile string) *httptest.Server {
	t.Helper()
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	ent, err := openpgp.NewEntity("e2e vendor", "", "vendor@e2e.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var pub, sig bytes.Buffer
	aw, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.Serialize(aw); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	if err := os.WriteFile(keyFile, pub.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := openpgp.ArmoredDetachSign(&sig, ent, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	name := "/" + filepath.Base(deb)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case name:
			w.Write(data)
		case name + ".asc":
			w.Write(sig.Bytes())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A zone of separate processes, set up as an administrator would (PKI
// with `ca`/`cert`, configs with `patchnet init`, daemons with `patchnet
// supernode`/`agent`): `patchnet publish` a fix for a package one agent
// has at a vulnerable version; three supernodes (k = 2) check it at the
// vendor's origin and co-sign; the vulnerable agent installs it with dpkg,
// the other records that it does not apply.
func TestE2EPublishIntoZoneOfProcesses(t *testing.T) {
	e := newE2E(t)
	z := e.zone(map[string]string{"a1": "vulnerable", "a2": "without the package"})
	out := z.publish("E2E-2026-0001")
	if !strings.Contains(out, "supernode(s) co-signed: agents of the zone accept it now") {
		t.Fatalf("publish did not report k co-signatures:\n%s", out)
	}
	e.waitOutput(z.agents["a1"], "installed E2E-2026-0001 v1")
	e.waitOutput(z.agents["a2"], "not-applied E2E-2026-0001 v1: does not apply")
	z.wantVersion("a1", nodelab.NewVersion)
	z.wantVersion("a2", "")
	status := e.run("status", "--state", e.path("a1"))
	for _, want := range []string{"E2E-2026-0001", "installed", "zone e2e"} {
		if !strings.Contains(status, want) {
			t.Errorf("patchnet status on a1 lacks %q:\n%s", want, status)
		}
	}
	if !strings.Contains(z.supernodes[0].output(), "co-signed E2E-2026-0001 v1") {
		t.Errorf("sn1 did not report its co-signature:\n%s", z.supernodes[0].output())
	}
}

// One supernode and two agents are killed (SIGKILL: no shutdown, badger
// and journals as a power cut leaves them) before an update is published:
// the two supernodes left still make k = 2, the agent left installs, and
// the two agents, restarted on the same state, catch up and install.
func TestE2EKilledNodesCatchUp(t *testing.T) {
	e := newE2E(t)
	z := e.zone(map[string]string{"a1": "vulnerable", "a2": "vulnerable", "a3": "vulnerable"})
	for _, p := range []*proc{z.supernodes[2], z.agents["a1"], z.agents["a2"]} {
		p.cmd.Process.Kill()
		<-p.done
	}
	z.publish("E2E-2026-0002")
	e.waitOutput(z.agents["a3"], "installed E2E-2026-0002 v1")
	for _, name := range []string{"a1", "a2"} {
		z.agents[name], _ = e.start(name, z.agentArgs[name]...)
		e.waitOutput(z.agents[name], "installed E2E-2026-0002 v1")
		z.wantVersion(name, nodelab.NewVersion)
	}
}

// A supernode is revoked with `patchnet ca revoke` and `ca crl`, and the
// new CRL sent into the running zone with `patchnet publish --crl`: every
// agent applies it, and with one supernode down the revoked one's
// co-signature no longer makes k = 2 — the agent waits and installs
// nothing, and publish fails naming what was missing.
func TestE2ERevocationAcrossProcesses(t *testing.T) {
	e := newE2E(t)
	z := e.zone(map[string]string{"a1": "vulnerable"})
	sn3 := z.supernodes[2]
	sn3.cmd.Process.Kill()
	<-sn3.done
	e.run("ca", "revoke", "--ca", e.path("zone"), e.path("sn2", "node.crt"))
	e.run("ca", "crl", "--ca", e.path("zone"))
	e.run("publish", "--crl", e.path("zone", "zone.crl"), "--config", z.pubConfig, "--linger", "1s")
	e.waitOutput(z.agents["a1"], "applied a newer CRL")
	fix := e.path("E2E-2026-0003.json")
	e.run("update", "new", "--id", "E2E-2026-0003", "--version", "1", "--ecosystem", "Debian:12", "--package", nodelab.PackageName,
		"--fixed", nodelab.NewVersion, "--artifact", z.debs[nodelab.NewVersion], "--method", "dpkg", "--url", z.vendorURL, "--out", fix)
	out, err := exec.Command(e.bin, "publish", fix, "--artifact", z.debs[nodelab.NewVersion], "--config", z.pubConfig, "--wait", "10s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "only 1 of 2 co-signatures") {
		t.Fatalf("publish with one valid co-signer: %v\n%s", err, out)
	}
	e.waitOutput(z.agents["a1"], "pending E2E-2026-0003 v1: 1 of 2 supernode co-signatures")
	if strings.Contains(z.agents["a1"].output(), "installed E2E-2026-0003") {
		t.Errorf("a1 installed with a revoked co-signer:\n%s", z.agents["a1"].output())
	}
	z.wantVersion("a1", nodelab.OldVersion)
}

// zone is a running zone of processes.
type zone struct {
	e          *e2e
	supernodes []*proc
	agents     map[string]*proc
	agentArgs  map[string][]string
	boot, fix  string
	pubConfig  string
	debs       map[string]string
	vendorURL  string
}

// zone sets up a zone as an administrator would (PKI with ca/cert, configs
// with patchnet init, daemons with patchnet supernode/agent): three
// supernodes (k = 2) checking artifacts at a signing vendor's origin, and
// the agents given, each "vulnerable" (the package at the old version) or
// not (without the package).
func (e *e2e) zone(agents map[string]string) *zone {
	t := e.t
	ctx := context.Background()
	e.run("ca", "init-root", "--out", e.path("root"))
	e.run("ca", "init-zone", "--root", e.path("root"), "--zone", "e2e", "--out", e.path("zone"))
	roles := map[string]string{"sn1": "supernode", "sn2": "supernode", "sn3": "supernode", "pub": "publisher"}
	for name := range agents {
		roles[name] = "agent"
	}
	for name, role := range roles {
		e.run("cert", "request", "--role", role, "--zone", "e2e", "--out", e.path(name))
		e.run("ca", "sign", "--ca", e.path("zone"), e.path(name, "node.csr"))
	}
	debs, err := nodelab.BuildDebs(ctx, e.path("debs"))
	if err != nil {
		t.Fatal(err)
	}
	srv := vendor(t, debs[nodelab.NewVersion], e.path("vendor.asc"))
	for name, kind := range agents {
		old := ""
		if kind == "vulnerable" {
			old = debs[nodelab.OldVersion]
		}
		if err := nodelab.MakeSandbox(ctx, e.path(name), e.path(name, "root"), old); err != nil {
			t.Fatal(err)
		}
	}
	z := &zone{e: e, agents: map[string]*proc{}, agentArgs: map[string][]string{}, debs: debs,
		vendorURL: srv.URL + "/" + filepath.Base(debs[nodelab.NewVersion])}
	cosign := []string{"--vendor-origin", srv.URL + "/", "--vendor-key", e.path("vendor.asc")}
	sn1, boot := e.start("sn1", "supernode", "--config", z.config("sn1", "supernode", cosign...))
	z.boot, z.supernodes = boot, []*proc{sn1}
	for _, name := range []string{"sn2", "sn3"} {
		p, _ := e.start(name, "supernode", "--config", z.config(name, "supernode", append(cosign, "--bootstrap", boot)...))
		z.supernodes = append(z.supernodes, p)
	}
	for name := range agents {
		z.agentArgs[name] = []string{"agent", "--config", z.config(name, "agent", "--sysroot", e.path(name, "root"), "--bootstrap", boot)}
		z.agents[name], _ = e.start(name, z.agentArgs[name]...)
	}
	z.pubConfig = z.config("pub", "publisher", "--bootstrap", boot)
	return z
}

// config writes name's config with `patchnet init role`.
func (z *zone) config(name, role string, extra ...string) string {
	e := z.e
	args := []string{"init", role, "--out", e.path(name + ".toml"), "--state", e.path(name),
		"--root", e.path("root", "root.crt"), "--crl", e.path("zone", "zone.crl"), "--crl", e.path("root", "root.crl"),
		"--zone", "e2e", "--threshold", "2", "--listen", "/ip4/127.0.0.1/tcp/0"}
	e.run(append(args, extra...)...)
	return e.path(name + ".toml")
}

// publish authors a fix of the package with `patchnet update new` and
// publishes it with `patchnet publish`, returning publish's output.
func (z *zone) publish(id string) string {
	e := z.e
	fix := e.path(id + ".json")
	deb := z.debs[nodelab.NewVersion]
	e.run("update", "new", "--id", id, "--version", "1", "--ecosystem", "Debian:12", "--package", nodelab.PackageName,
		"--fixed", nodelab.NewVersion, "--summary", "hello-patchnet: fix the greeting", "--artifact", deb,
		"--method", "dpkg", "--url", z.vendorURL, "--out", fix)
	return e.run("publish", fix, "--artifact", deb, "--config", z.pubConfig, "--wait", "90s")
}

// wantVersion checks the package version dpkg reports in name's sysroot.
func (z *zone) wantVersion(name, want string) {
	z.e.t.Helper()
	if v, err := nodelab.InstalledVersion(context.Background(), z.e.path(name, "root")); err != nil || v != want {
		z.e.t.Errorf("%s has %q, %v; want %q", name, v, err, want)
	}
}

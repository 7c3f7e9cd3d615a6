package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/patchnet/patchnet/node"
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
	t        *testing.T
	bin      string
	dir      string
	procs    []*proc
	debFiles map[string]string // the lab's .debs by version, built on first use
	rpmFiles map[string]string // the lab's .rpms by version, built on first use
	origin   *vendorOrigin     // started on first use
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
	return e.startCmd(name, exec.Command(e.bin, args...))
}

// startCmd starts cmd, a process that prints "listening on ADDR" lines as
// the daemons do, and waits for its TCP address, which it returns.
func (e *e2e) startCmd(name string, cmd *exec.Cmd) (*proc, string) {
	e.t.Helper()
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
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

// kill ends p with SIGTERM (kill = false) or SIGKILL and waits for it.
func (e *e2e) kill(p *proc, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	p.cmd.Process.Signal(sig)
	<-p.done
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

// waitLine waits until p printed a line containing each of want, and
// returns it.
func (e *e2e) waitLine(p *proc, want ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		for line := range strings.Lines(p.output()) {
			if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(line, w) }) {
				return line
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never printed a line with each of %q:\n%s", p.name, want, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peerID is the peer ID a daemon printed at start ("ROLE ID of zone Z").
func (e *e2e) peerID(p *proc) string {
	e.t.Helper()
	for line := range strings.Lines(p.output()) {
		if f := strings.Fields(line); len(f) >= 4 && f[2] == "of" && f[3] == "zone" {
			return f[1]
		}
	}
	e.t.Fatalf("%s printed no peer ID:\n%s", p.name, p.output())
	return ""
}

// status is `patchnet status --json` of the daemon on state.
func (e *e2e) status(state string) node.APIStatus {
	e.t.Helper()
	var st node.APIStatus
	if err := json.Unmarshal([]byte(e.run("status", "--json", "--state", state)), &st); err != nil {
		e.t.Fatalf("patchnet status --json --state %s: %v", state, err)
	}
	return st
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

// vendorOrigin is a vendor's HTTP origin on loopback: each file it serves
// beside its detached OpenPGP signature (NAME.asc), by the vendor's key.
type vendorOrigin struct {
	t   *testing.T
	srv *httptest.Server
	ent *openpgp.Entity
	mu  sync.Mutex
	// files are the bodies served, by URL path.
	files map[string][]byte
}

// newVendor starts a vendor origin and writes the vendor's public key to
// keyFile.
func newVendor(t *testing.T, keyFile string) *vendorOrigin {
	t.Helper()
	ent, err := openpgp.NewEntity("e2e vendor", "", "vendor@e2e.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
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
	v := &vendorOrigin{t: t, ent: ent, files: map[string][]byte{}}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		body, ok := v.files[r.URL.Path]
		v.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

// serve signs the file at path and serves it; it returns its URL.
func (v *vendorOrigin) serve(path string) string {
	v.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		v.t.Fatal(err)
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, v.ent, bytes.NewReader(data), nil); err != nil {
		v.t.Fatal(err)
	}
	name := "/" + filepath.Base(path)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.files[name], v.files[name+".asc"] = data, sig.Bytes()
	return v.srv.URL + name
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

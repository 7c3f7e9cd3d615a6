package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/patchnet/patchnet/node/nodelab"
)

// zone is a running zone of processes.
type zone struct {
	e          *e2e
	name, dir  string
	supernodes []*proc
	agents     map[string]*proc
	agentArgs  map[string][]string
	hosts      map[string]host
	boot       string
	pubConfig  string
	psk        string // the private zone's key file, "" for a public zone
	debs       map[string]string
	vendorURL  string // the Debian 12 fix's URL at the vendor
}

// zoneSpec describes a zone to set up.
type zoneSpec struct {
	// name is the zone's name, "e2e" when empty. Another zone's files live
	// under e.path(name); e2e's directly under e.dir.
	name string
	// private makes it a private zone: `patchnet init --private` writes the
	// zone's pre-shared key on the first supernode, the others are given it
	// with --psk-file.
	private bool
	// hosts are the agents, by name.
	hosts map[string]host
	// agentBootstrap are bootstrap peers the agents get besides the zone's
	// first supernode (another zone's, which they must never join).
	agentBootstrap []string
	// beforeStart, if set, runs once the zone's PKI and sysroots exist,
	// before any of its daemons starts (to revoke a certificate, say).
	beforeStart func(*zone)
}

// host is an agent's sysroot: a release and the version of the lab's
// package installed there.
type host struct {
	// release is the sysroot's os-release: one of the keys of osReleases.
	release string
	// version is nodelab.PackageName's version installed by the release's
	// package manager (dpkg or rpm), "" for none.
	version string
}

// osReleases are the sysroots' /etc/os-release by release, and whether
// the release keeps its packages with rpm (else dpkg).
var osReleases = map[string]struct {
	osRelease string
	rpm       bool
}{
	"debian12": {osRelease: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n"},
	"debian11": {osRelease: "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"11\"\nVERSION_CODENAME=bullseye\nID=debian\n"},
	"rocky9":   {osRelease: "NAME=\"Rocky Linux\"\nVERSION=\"9.4 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n", rpm: true},
	"rocky8":   {osRelease: "NAME=\"Rocky Linux\"\nVERSION=\"8.10 (Green Obsidian)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.10\"\n", rpm: true},
}

// zone sets up zone e2e with agents each "vulnerable" (a Debian 12 root
// with the package at the old version) or not (without the package).
func (e *e2e) zone(agents map[string]string) *zone {
	hosts := map[string]host{}
	for name, kind := range agents {
		hosts[name] = host{release: "debian12"}
		if kind == "vulnerable" {
			hosts[name] = host{release: "debian12", version: nodelab.OldVersion}
		}
	}
	return e.newZone(zoneSpec{hosts: hosts})
}

// newZone sets up a zone as an administrator would (PKI with ca/cert,
// configs with patchnet init, daemons with patchnet supernode/agent):
// three supernodes (k = 2) checking artifacts at a signing vendor's
// origin, the agents given, and a publisher's config. Zones of one e2e
// share the root CA and the vendor.
func (e *e2e) newZone(spec zoneSpec) *zone {
	z := &zone{e: e, name: spec.name, dir: e.dir, agents: map[string]*proc{}, agentArgs: map[string][]string{}, hosts: spec.hosts}
	if z.name == "" {
		z.name = "e2e"
	} else {
		z.dir = e.path(z.name)
	}
	z.issueCerts()
	z.debs = e.debs()
	z.vendorURL = e.vendor().serve(z.debs[nodelab.NewVersion])
	for name, h := range spec.hosts {
		if err := e.sysroot(z.path(name), h); err != nil {
			e.t.Fatalf("making %s's sysroot: %v", name, err)
		}
	}
	if spec.beforeStart != nil {
		spec.beforeStart(z)
	}
	z.startSupernodes(spec.private)
	for name := range spec.hosts {
		boots := strings.Join(append([]string{z.boot}, spec.agentBootstrap...), ",")
		z.agentArgs[name] = []string{"agent", "--config", z.config(name, "agent", "--sysroot", z.path(name, "root"), "--bootstrap", boots)}
		z.agents[name], _ = e.start(z.proc(name), z.agentArgs[name]...)
	}
	z.pubConfig = z.config("pub", "publisher", "--bootstrap", z.boot)
	return z
}

// issueCerts makes the zone CA under e's root and a certificate for each
// supernode, agent and the publisher, each node making its own key.
func (z *zone) issueCerts() {
	e := z.e
	e.pki()
	e.run("ca", "init-zone", "--root", e.path("root"), "--zone", z.name, "--out", z.path("zone"))
	roles := map[string]string{"sn1": "supernode", "sn2": "supernode", "sn3": "supernode", "pub": "publisher"}
	for name := range z.hosts {
		roles[name] = "agent"
	}
	for name, role := range roles {
		e.run("cert", "request", "--role", role, "--zone", z.name, "--out", z.path(name))
		e.run("ca", "sign", "--ca", z.path("zone"), z.path(name, "node.csr"))
	}
}

// startSupernodes starts sn1, the zone's bootstrap peer, then sn2 and sn3.
// For a private zone, sn1's `init --private` writes the zone's key, which
// every other node is given.
func (z *zone) startSupernodes(private bool) {
	e := z.e
	cosign := []string{"--vendor-origin", e.vendor().srv.URL + "/", "--vendor-key", e.path("vendor.asc")}
	first := cosign
	if private {
		first = append(slices.Clone(cosign), "--private")
	}
	sn1Config := z.config("sn1", "supernode", first...)
	if private {
		z.psk = z.path("sn1", pskFileName)
	}
	sn1, boot := e.start(z.proc("sn1"), "supernode", "--config", sn1Config)
	z.boot, z.supernodes = boot, []*proc{sn1}
	for _, name := range []string{"sn2", "sn3"} {
		p, _ := e.start(z.proc(name), "supernode", "--config", z.config(name, "supernode", append(cosign, "--bootstrap", boot)...))
		z.supernodes = append(z.supernodes, p)
	}
}

// pki makes the root CA every zone of e chains to, once.
func (e *e2e) pki() {
	if _, err := os.Stat(e.path("root", "root.crt")); err == nil {
		return
	}
	e.run("ca", "init-root", "--out", e.path("root"))
}

// debs builds the lab's two .debs once; version → path.
func (e *e2e) debs() map[string]string {
	if e.debFiles == nil {
		debs, err := nodelab.BuildDebs(context.Background(), e.path("debs"))
		if err != nil {
			e.t.Fatal(err)
		}
		e.debFiles = debs
	}
	return e.debFiles
}

// vendor is the vendor's origin every zone of e checks artifacts at,
// started on first use.
func (e *e2e) vendor() *vendorOrigin {
	if e.origin == nil {
		e.origin = newVendor(e.t, e.path("vendor.asc"))
	}
	return e.origin
}

// sysroot makes h's root at dir/root, with the package installed (dpkg's
// through a journal in dir, as an earlier update would have).
func (e *e2e) sysroot(dir string, h host) error {
	ctx := context.Background()
	rel, ok := osReleases[h.release]
	if !ok {
		return fmt.Errorf("no release %q", h.release)
	}
	root := filepath.Join(dir, "root")
	if rel.rpm {
		if err := e.rpmRoot(root, h.version); err != nil {
			return err
		}
	} else if err := nodelab.MakeSandbox(ctx, dir, root, e.debs()[h.version]); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte(rel.osRelease), 0o644)
}

// path is a file of the zone.
func (z *zone) path(parts ...string) string {
	return filepath.Join(append([]string{z.dir}, parts...)...)
}

// proc names one of the zone's processes in failure messages.
func (z *zone) proc(name string) string {
	if z.name == "e2e" {
		return name
	}
	return z.name + "/" + name
}

// config writes name's config with `patchnet init role`.
func (z *zone) config(name, role string, extra ...string) string {
	e := z.e
	args := []string{"init", role, "--out", z.path(name + ".toml"), "--state", z.path(name),
		"--root", e.path("root", "root.crt"), "--crl", z.path("zone", "zone.crl"), "--crl", e.path("root", "root.crl"),
		"--zone", z.name, "--threshold", "2", "--listen", "/ip4/127.0.0.1/tcp/0"}
	if z.psk != "" {
		args = append(args, "--psk-file", z.psk)
	}
	e.run(append(args, extra...)...)
	return z.path(name + ".toml")
}

// fix is an update to author and publish.
type fix struct {
	id, ecosystem   string
	artifact, url   string
	method, version string // the fixed version
}

// debFix is the Debian 12 fix of the lab's package.
func (z *zone) debFix(id string) fix {
	return fix{id: id, ecosystem: "Debian:12", artifact: z.debs[nodelab.NewVersion], url: z.vendorURL, method: "dpkg", version: nodelab.NewVersion}
}

// publish authors the Debian 12 fix of the package with `patchnet update
// new` and publishes it with `patchnet publish`, returning publish's output.
func (z *zone) publish(id string) string { return z.publishFix(z.debFix(id)) }

// publishFix authors f with `patchnet update new` and publishes it with
// `patchnet publish`, returning publish's output.
func (z *zone) publishFix(f fix) string {
	e := z.e
	out := z.path(f.id + ".json")
	e.run("update", "new", "--id", f.id, "--version", "1", "--ecosystem", f.ecosystem, "--package", nodelab.PackageName,
		"--fixed", f.version, "--summary", "hello-patchnet: fix the greeting", "--artifact", f.artifact,
		"--method", f.method, "--url", f.url, "--out", out)
	return e.run("publish", out, "--artifact", f.artifact, "--config", z.pubConfig, "--wait", "90s")
}

// wantVersion checks the package version the package manager of name's
// sysroot reports.
func (z *zone) wantVersion(name, want string) {
	z.e.t.Helper()
	root := z.path(name, "root")
	var v string
	var err error
	if h, ok := z.hosts[name]; ok && osReleases[h.release].rpm {
		v, err = rpmVersion(root)
	} else {
		v, err = nodelab.InstalledVersion(context.Background(), root)
	}
	if err != nil || v != want {
		z.e.t.Errorf("%s has %q, %v; want %q", name, v, err, want)
	}
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/updates/install"
)

// Six agents with dpkg and rpm sysroots of different releases, and a fix
// for each family: a Debian 12 .deb and a Rocky Linux 9 .rpm of the same
// package. Exactly the two hosts with the package at a vulnerable version
// in the advisory's release install (one through dpkg, one through rpm);
// every other agent records that each fix does not apply to it — the
// package fixed already, not installed, or installed at the vulnerable
// version in another release (Debian 11, Rocky Linux 8).
func TestE2EMixedReleases(t *testing.T) {
	e := newE2E(t)
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	old, fixed := nodelab.OldVersion, nodelab.NewVersion
	// Each agent's outcome of the Debian fix and of the Rocky Linux fix:
	// "installed", or why it does not apply.
	agents := map[string]struct {
		host     host
		deb, rpm string
	}{
		"deb12-vulnerable":  {host{"debian12", old}, "installed", `ecosystem "Debian:12" (announcement: Rocky Linux:9)`},
		"deb12-fixed":       {host{"debian12", fixed}, "hello-patchnet 2.0-1 >= fixed 2.0-1 on Debian:12", `ecosystem "Debian:12" (announcement: Rocky Linux:9)`},
		"deb11-vulnerable":  {host{"debian11", old}, `ecosystem "Debian:11" (announcement: Debian:12)`, `ecosystem "Debian:11" (announcement: Rocky Linux:9)`},
		"rocky9-vulnerable": {host{"rocky9", old}, `ecosystem "Rocky Linux:9" (announcement: Debian:12)`, "installed"},
		"rocky9-without":    {host{"rocky9", ""}, `ecosystem "Rocky Linux:9" (announcement: Debian:12)`, "hello-patchnet is not installed"},
		"rocky8-vulnerable": {host{"rocky8", old}, `ecosystem "Rocky Linux:8" (announcement: Debian:12)`, `ecosystem "Rocky Linux:8" (announcement: Rocky Linux:9)`},
	}
	hosts := map[string]host{}
	for name, a := range agents {
		hosts[name] = a.host
	}
	z := e.newZone(zoneSpec{hosts: hosts})
	rpm := e.rpms()[fixed]
	deb := z.debFix("E2E-2026-0101")
	rpmFix := fix{id: "E2E-2026-0102", ecosystem: "Rocky Linux:9", artifact: rpm, url: e.vendor().serve(rpm), method: "rpm", version: fixed}
	z.publishFix(deb)
	z.publishFix(rpmFix)
	for name, a := range agents {
		installs := 0
		for _, o := range []struct{ id, want string }{{deb.id, a.deb}, {rpmFix.id, a.rpm}} {
			if o.want == "installed" {
				installs++
				e.waitOutput(z.agents[name], fmt.Sprintf("installed %s v1", o.id))
			} else {
				e.waitOutput(z.agents[name], fmt.Sprintf("not-applied %s v1: does not apply to this host: [", o.id))
				if out := z.agents[name].output(); !strings.Contains(out, o.want) {
					t.Errorf("%s: %s does not apply, but not because of %q:\n%s", name, o.id, o.want, out)
				}
			}
		}
		want := a.host.version
		if installs > 0 {
			want = fixed
		}
		z.wantVersion(name, want)
		if out := z.agents[name].output(); strings.Count(out, " installed E2E-") != installs {
			t.Errorf("%s installed %d times, want %d:\n%s", name, strings.Count(out, " installed E2E-"), installs, out)
		}
	}
}

// rpms builds the lab's package at the old and the new version as noarch
// .rpms with rpmbuild, once; version → path.
func (e *e2e) rpms() map[string]string {
	e.t.Helper()
	if e.rpmFiles != nil {
		return e.rpmFiles
	}
	e.rpmFiles = map[string]string{}
	for _, v := range []string{nodelab.OldVersion, nodelab.NewVersion} {
		top := e.path("rpmbuild-" + v)
		ver, rel, _ := strings.Cut(v, "-")
		spec := fmt.Sprintf(`Name: %[1]s
Version: %[2]s
Release: %[3]s
Summary: greets the patchnet e2e tests
License: MIT
BuildArch: noarch
%%description
greets the patchnet e2e tests
%%install
mkdir -p %%{buildroot}/usr/share/%[1]s
echo 'hello %[4]s' > %%{buildroot}/usr/share/%[1]s/greeting
%%files
/usr/share/%[1]s/greeting
`, nodelab.PackageName, ver, rel, v)
		if err := os.MkdirAll(top, 0o755); err != nil {
			e.t.Fatal(err)
		}
		specFile := filepath.Join(top, nodelab.PackageName+".spec")
		if err := os.WriteFile(specFile, []byte(spec), 0o644); err != nil {
			e.t.Fatal(err)
		}
		out, err := exec.Command("rpmbuild", "--define", "_topdir "+top, "--define", "_build_id_links none", "-bb", specFile).CombinedOutput()
		if err != nil {
			e.t.Fatalf("rpmbuild: %v\n%s", err, out)
		}
		e.rpmFiles[v] = filepath.Join(top, "RPMS", "noarch", fmt.Sprintf("%s-%s.noarch.rpm", nodelab.PackageName, v))
	}
	return e.rpmFiles
}

// rpmRoot makes root an rpm system (a database where the agent's rpm
// installer and sysinfo look) with the lab's package at version, "" for
// none, installed by rpm.
func (e *e2e) rpmRoot(root, version string) error {
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("rpm", "--root", root, "--dbpath", install.DefaultRPMDBPath, "--initdb").CombinedOutput(); err != nil {
		return fmt.Errorf("rpm --initdb: %v: %s", err, out)
	}
	if version == "" {
		return nil
	}
	if out, err := exec.Command("rpm", "--root", root, "--dbpath", install.DefaultRPMDBPath, "--install", e.rpms()[version]).CombinedOutput(); err != nil {
		return fmt.Errorf("rpm --install: %v: %s", err, out)
	}
	return nil
}

// rpmVersion is the version-release of the lab's package rpm reports in
// root, "" when it is not installed.
func rpmVersion(root string) (string, error) {
	out, err := exec.Command("rpm", "--root", root, "--dbpath", install.DefaultRPMDBPath, "--query",
		"--queryformat", "%{VERSION}-%{RELEASE}", nodelab.PackageName).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "is not installed") {
			return "", nil
		}
		return "", fmt.Errorf("rpm --query in %s: %v: %s", root, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

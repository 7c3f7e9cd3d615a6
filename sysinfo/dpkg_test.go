package sysinfo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dpkgQueryInstalled runs the real dpkg-query with the given extra arguments
// and returns, sorted, the lines whose first word is "installed", without
// that word. The test skips where dpkg is not installed.
func dpkgQueryInstalled(t *testing.T, format string, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("dpkg-query not installed")
	}
	args = append(args, "-W", "-f", "${db:Status-Status} "+format+"\n")
	out, err := exec.Command("dpkg-query", args...).Output()
	if err != nil {
		t.Fatalf("dpkg-query %v: %v", args, err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if rest, ok := strings.CutPrefix(l, "installed "); ok {
			lines = append(lines, rest)
		}
	}
	slices.Sort(lines)
	return lines
}

// packageLines formats packages like the dpkg-query format, sorted.
func packageLines(pkgs []Package, line func(Package) string) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, line(p))
	}
	slices.Sort(out)
	return out
}

func nameVersionArch(p Package) string { return p.Name + " " + p.Version + " " + p.Arch }

// TestSoftwareEqualsDpkgQuery is the acceptance test: on a machine
// with dpkg, the inventory's software is exactly what dpkg-query calls
// installed.
func TestSoftwareEqualsDpkgQuery(t *testing.T) {
	want := dpkgQueryInstalled(t, "${Package} ${Version} ${Architecture}")
	inv, err := Collect(context.Background(), Options{Root: "/"})
	if err != nil {
		t.Fatal(err)
	}
	var dpkg []Package
	for _, p := range inv.Software {
		if p.Manager == ManagerDpkg {
			dpkg = append(dpkg, p)
		}
	}
	if diff := cmp.Diff(want, packageLines(dpkg, nameVersionArch)); diff != "" {
		t.Errorf("software differs from dpkg-query (-dpkg-query +inventory):\n%s", diff)
	}
}

// TestDpkgFixtureMatchesDpkgQuery reads the committed status file with both
// the parser and the real dpkg-query (--admindir), comparing also the
// fields advisories match on: source name and version, section, maintainer.
func TestDpkgFixtureMatchesDpkgQuery(t *testing.T) {
	admin := t.TempDir() // dpkg-query wants a writable admindir for its lock
	copyFile(t, "testdata/roots/debian-12/var/lib/dpkg/status", filepath.Join(admin, "status"))
	format := "${Package}|${Version}|${Architecture}|${source:Package}|${source:Version}|${Maintainer}"
	want := dpkgQueryInstalled(t, format, "--admindir", admin)
	pkgs := parseFile(t, ParseDpkgStatus, filepath.Join(admin, "status"))
	got := packageLines(pkgs, func(p Package) string {
		return strings.Join([]string{p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion, p.Vendor}, "|")
	})
	if len(want) < 100 {
		t.Fatalf("fixture has only %d installed packages", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parser differs from dpkg-query (-dpkg-query +parser):\n%s", diff)
	}
}

// TestDistrolessStatusD checks that the status.d layout is read like the
// status file: the real dpkg-query, given the stanzas as one status file,
// must agree; the .md5sums files beside them are not stanzas.
func TestDistrolessStatusD(t *testing.T) {
	dir := "testdata/roots/distroless-debian-12/var/lib/dpkg/status.d"
	admin := t.TempDir()
	var all []byte
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".md5sums") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			all = append(append(all, b...), '\n')
		}
	}
	if err := os.WriteFile(filepath.Join(admin, "status"), all, 0o644); err != nil {
		t.Fatal(err)
	}
	want := dpkgQueryInstalled(t, "${Package} ${Version} ${Architecture}", "--admindir", admin)
	inv := collectFixture(t, "distroless-debian-12")
	if diff := cmp.Diff(want, packageLines(inv.Software, nameVersionArch)); diff != "" {
		t.Errorf("status.d differs from dpkg-query (-dpkg-query +inventory):\n%s", diff)
	}
}

func TestParseDpkgStatus(t *testing.T) {
	const status = `Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.15-1~deb12u1
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the
 .
 Internet.

Package: bash
Essential: yes
Status: install ok installed
Section: shells
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b7

Package: exim4-base
Status: deinstall ok config-files
Section: contrib/mail
Architecture: amd64
Version: 4.96-15+deb12u4

Package: postfix
Status: install reinstreq half-installed
Section: mail
Architecture: amd64
Version: 3.7.11-0+deb12u1

Package: never-installed
Status: purge ok not-installed
Architecture: amd64
`
	got, err := ParseDpkgStatus(strings.NewReader(strings.ReplaceAll(status, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "libssl3", Version: "3.0.15-1~deb12u1", Arch: "amd64", SourceName: "openssl",
			SourceVersion: "3.0.15-1~deb12u1", Vendor: "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>",
			Category: "system/libraries", Manager: ManagerDpkg},
		{Name: "bash", Version: "5.2.15-2+b7", Arch: "amd64", SourceName: "bash", SourceVersion: "5.2.15-2",
			Vendor: "Matthias Klose <doko@debian.org>", Category: "system/shells", Manager: ManagerDpkg},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseDpkgStatusMalformed(t *testing.T) {
	for _, tc := range []struct{ name, in, wantMsg string }{
		{"no colon", "Package: a\nStatus: install ok installed\nVersion: 1\ngarbage line\n", "line 4: expected \"Field: value\""},
		{"continuation first", " leading continuation\n", "line 1: continuation line outside a field"},
		{"no package", "Status: install ok installed\nVersion: 1\n", "line 1: stanza has no Package field"},
		{"bad status", "Package: a\nStatus: installed\nVersion: 1\n", "Status \"installed\" is not"},
		{"installed without version", "Package: a\nStatus: install ok installed\n", "installed package a has no Version"},
		{"truncated stanza", "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStat", "line 6: expected \"Field: value\""},
		{"binary", "Package: a\x00\x01\x02\n", "line 1: binary data"},
		{"huge field", "Package: " + strings.Repeat("x", maxFieldBytes+1) + "\n", "field Package is 4097 bytes"},
		{"huge line", "Description: " + strings.Repeat("x", maxLineBytes+1) + "\n", "line 1: line longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, err := ParseDpkgStatus(strings.NewReader(tc.in))
			assertMalformed(t, pkgs, err, tc.wantMsg)
		})
	}
}

func TestDpkgSource(t *testing.T) {
	for _, tc := range []struct{ field, wantName, wantVersion string }{
		{"", "bin", "1.0-1"},
		{"src", "src", "1.0-1"},
		{"src (2.0-3)", "src", "2.0-3"},
		{"src ( 2.0-3 )", "src", "2.0-3"},
		{"src ()", "src", "1.0-1"}, // found by FuzzParseDpkgStatus: an empty version is none
		{"src junk", "src", "1.0-1"},
	} {
		name, version := dpkgSource(tc.field, "bin", "1.0-1")
		if name != tc.wantName || version != tc.wantVersion {
			t.Errorf("dpkgSource(%q) = %q, %q; want %q, %q", tc.field, name, version, tc.wantName, tc.wantVersion)
		}
	}
}

package sysinfo

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseApkInstalledFixture(t *testing.T) {
	pkgs := parseFile(t, ParseApkInstalled, "testdata/roots/alpine-3.20/lib/apk/db/installed")
	const ncopa = "Natanael Copa <ncopa@alpinelinux.org>"
	const soeren = "Sören Tempel <soeren+alpine@soeren-tempel.net>"
	const ariadne = "Ariadne Conill <ariadne@dereferenced.org>"
	pkg := func(name, version, origin, maintainer string) Package {
		return Package{Name: name, Version: version, Arch: "x86_64", SourceName: origin,
			SourceVersion: version, Vendor: maintainer, Manager: ManagerApk}
	}
	want := []Package{
		pkg("musl", "1.2.5-r0", "musl", ncopa),
		pkg("busybox", "1.36.1-r29", "busybox", soeren),
		pkg("busybox-binsh", "1.36.1-r29", "busybox", soeren),
		pkg("alpine-baselayout-data", "3.6.5-r0", "alpine-baselayout", ncopa),
		pkg("alpine-baselayout", "3.6.5-r0", "alpine-baselayout", ncopa),
		pkg("alpine-keys", "2.4-r1", "alpine-keys", ncopa),
		pkg("ca-certificates-bundle", "20240705-r0", "ca-certificates", ncopa),
		pkg("libcrypto3", "3.3.2-r0", "openssl", ariadne),
		pkg("libssl3", "3.3.2-r0", "openssl", ariadne),
		pkg("ssl_client", "1.36.1-r29", "busybox", soeren),
		pkg("zlib", "1.3.1-r1", "zlib", ncopa),
		pkg("apk-tools", "2.14.4-r1", "apk-tools", ncopa),
		pkg("scanelf", "1.3.7-r2", "pax-utils", ncopa),
		pkg("musl-utils", "1.2.5-r0", "musl", ncopa),
	}
	if diff := cmp.Diff(want, pkgs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseApkInstalledWithoutOrigin(t *testing.T) {
	pkgs, err := ParseApkInstalled(strings.NewReader("P:local-tool\nV:0.1-r0\nA:aarch64\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{{Name: "local-tool", Version: "0.1-r0", Arch: "aarch64", SourceName: "local-tool",
		SourceVersion: "0.1-r0", Manager: ManagerApk}}
	if diff := cmp.Diff(want, pkgs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseApkInstalledMalformed(t *testing.T) {
	for _, tc := range []struct{ name, in, wantMsg string }{
		{"not X:value", "P:musl\nV:1.2.5-r0\nthis is not a field\n", "line 3: expected \"X:value\""},
		{"no name", "V:1.2.5-r0\nA:x86_64\n", "line 1: package has no P: (name) line"},
		{"no version", "P:musl\nA:x86_64\n\nP:zlib\nV:1\n", "line 1: package musl has no V:"},
		{"truncated", "P:musl\nV:1.2.5-r0\n\nP:zlib\nV", "line 5: expected \"X:value\""},
		{"truncated stanza", "P:musl\nV:1.2.5-r0\n\nP:zl", "line 4: package zl has no V:"},
		{"binary", "P:mu\x00sl\n", "line 1: binary data"},
		{"huge field", "P:" + strings.Repeat("a", maxFieldBytes+1) + "\n", "field P is 4097 bytes"},
		{"huge line", "T:" + strings.Repeat("a", maxLineBytes) + "\n", "line 1: line longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, err := ParseApkInstalled(strings.NewReader(tc.in))
			assertMalformed(t, pkgs, err, tc.wantMsg)
		})
	}
}

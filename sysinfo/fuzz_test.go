package sysinfo

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// addSeeds adds files (first 4 KiB: fuzzing favours small inputs) and
// literal inputs as seeds; testdata/fuzz/<name>/ holds more.
func addSeeds(f *testing.F, files []string, literals ...string) {
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	for _, l := range literals {
		f.Add([]byte(l))
	}
}

// checkPackages is what every package parser promises: an error is
// ErrMalformed with no packages, success gives complete packages.
func checkPackages(t *testing.T, pkgs []Package, err error) {
	if err != nil {
		if !errors.Is(err, ErrMalformed) || pkgs != nil {
			t.Fatalf("error %v (malformed: %v) with %d packages", err, errors.Is(err, ErrMalformed), len(pkgs))
		}
		return
	}
	for _, p := range pkgs {
		if p.Name == "" || p.Version == "" || p.SourceName == "" || p.SourceVersion == "" || p.Manager == "" {
			t.Fatalf("incomplete package %+v", p)
		}
		if len(p.Name) > maxFieldBytes || len(p.Version) > maxFieldBytes || len(p.Vendor) > maxFieldBytes {
			t.Fatalf("field over the limit in %q", p.Name)
		}
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	addSeeds(f, []string{"testdata/roots/debian-12/var/lib/dpkg/status",
		"testdata/roots/distroless-debian-12/var/lib/dpkg/status.d/libc6"},
		"Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (2)\n\n",
		"Package: a\nStatus: deinstall ok config-files\n", " x\n", "\n\n\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseDpkgStatus(bytes.NewReader(data))
		checkPackages(t, pkgs, err)
	})
}

func FuzzParseApkInstalled(f *testing.F) {
	addSeeds(f, []string{"testdata/roots/alpine-3.20/lib/apk/db/installed"},
		"P:a\nV:1\n", "P:a\nV:1\no:b\n\nP:c\nV:2\n", "X", "P:\nV:\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseApkInstalled(bytes.NewReader(data))
		checkPackages(t, pkgs, err)
	})
}

func FuzzParseOSRelease(f *testing.F) {
	addSeeds(f, []string{"testdata/os-release/debian-12", "testdata/os-release/rhel-9",
		"testdata/os-release/ubuntu-22.04", "testdata/os-release/alpine-3.20"},
		`A="b\"c"`, "A='", "A=\"\\", "=x", "VERSION=\"1 (x)\"\nID=debian\nVERSION_ID=12\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := ParseOSRelease(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for k, v := range rel.Fields {
			if k == "" || len(v) > maxFieldBytes {
				t.Fatalf("field %q of %d bytes", k, len(v))
			}
		}
		_ = OSVEcosystem(rel)
	})
}

func FuzzParseRPMHeader(f *testing.F) {
	// Real headers, as the SQLite fixture stores them, are in
	// testdata/fuzz/FuzzParseRPMHeader: reading them here would run the
	// (coverage-instrumented, so slow) SQLite engine in every fuzz worker.
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 3, 232, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 'b', 'c', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseRPMHeader(data)
		var pkgs []Package
		if err == nil {
			pkgs = []Package{p}
		}
		checkPackages(t, pkgs, err)
	})
}

func FuzzParseProcNet(f *testing.F) {
	addSeeds(f, []string{"testdata/proc-net/tcp", "testdata/proc-net/tcp6", "testdata/proc-net/udp"})
	f.Fuzz(func(t *testing.T, data []byte) {
		socks, err := ParseProcNet(bytes.NewReader(data))
		if err != nil && (!errors.Is(err, ErrMalformed) || socks != nil) {
			t.Fatalf("error %v with %d sockets", err, len(socks))
		}
	})
}

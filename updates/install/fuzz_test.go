package install

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func FuzzDecodeTransaction(f *testing.F) {
	b, _ := encodeTransaction(sampleTx(timeZero(), StateCommitted))
	f.Add(b)
	f.Add([]byte(`{"id":"20260101-000000.000000-000000","state":"installing"}`))
	f.Add([]byte(`{"id":"x"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := decodeTransaction(raw)
		if err != nil {
			return
		}
		again, err := encodeTransaction(tx)
		if err != nil {
			t.Fatalf("a decoded transaction does not encode: %v", err)
		}
		if _, err := decodeTransaction(again); err != nil {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func FuzzSafeRelPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/abs", "a/../../b", "./", "a\\..\\b", "a/./b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, err := safeRelPath(name)
		if err != nil {
			return
		}
		joined := filepath.Join("/base", rel)
		if joined != "/base" && !strings.HasPrefix(joined, "/base/") {
			t.Fatalf("%q resolved to %q, outside the base", name, joined)
		}
	})
}

func FuzzExtract(f *testing.F) {
	f.Add(tarGzBytes(f, []entry{{name: "a/b", body: "x"}, {name: "l", link: "a/b", typ: tar.TypeSymlink}}))
	f.Add(tarGzBytes(f, []entry{{name: "../x", body: "x"}}))
	f.Add([]byte("PK\x03\x04garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		Extract(src, out, 1<<20)
		// Whatever happened, nothing may exist in dir but in and out.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "in" && e.Name() != "out" {
				t.Fatalf("extraction wrote %q outside its directory", e.Name())
			}
		}
	})
}

func FuzzReadPKGINFO(f *testing.F) {
	f.Add(tarGzBytes(f, []entry{{name: ".PKGINFO", body: "pkgname = musl\npkgver = 1.2.4-r2\n"}}))
	f.Add(tarGzBytes(f, []entry{{name: ".PKGINFO", body: "pkgname = -rf\npkgver = 1\n"}}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		name, version, err := ReadPKGINFO(bytes.NewReader(data))
		if err != nil {
			return
		}
		if checkPackageField("n", name) != nil || checkPackageField("v", version) != nil {
			t.Fatalf("accepted unsafe fields %q %q", name, version)
		}
	})
}

// timeZero is a fixed time for seeds.
func timeZero() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

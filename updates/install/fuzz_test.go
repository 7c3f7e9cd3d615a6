package install

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
	// The reviewer's chain: each link inside on its own, together two
	// levels up, then a hard link through them to a file outside.
	f.Add(tarGzBytes(f, append(chainEscape(true), entry{name: "stolen", link: "s2/secret", typ: tar.TypeLink})))
	f.Add(tarGzBytes(f, chainEscape(false)))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// The secret is where the seed's chain of links leads.
		out := filepath.Join(dir, "a", "b", "out")
		os.MkdirAll(filepath.Dir(out), 0o755)
		secret := filepath.Join(dir, "a", "secret")
		if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		Extract(src, out, 1<<20)
		// Whatever happened, nothing may exist in dir but what the test made.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "in" && e.Name() != "a" {
				t.Fatalf("extraction wrote %q outside its directory", e.Name())
			}
		}
		assertContained(t, out, secret)
	})
}

// assertContained fails if an accepted tree links to secret or holds a
// symlink that the kernel resolves outside it.
func assertContained(t *testing.T, out, secret string) {
	secretInfo, err := os.Stat(secret)
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		if os.SameFile(fi, secretInfo) {
			t.Fatalf("%s is a hard link to a file outside the tree", p)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if r, err := filepath.EvalSymlinks(p); err == nil && r != out && !strings.HasPrefix(r, out+"/") {
				t.Fatalf("symlink %s resolves to %s, outside the tree", p, r)
			}
		}
		return nil
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

func FuzzJournalLog(f *testing.F) {
	for _, s := range []string{"\xff", "\x01", "<&>", "\u2028", "é\"\\\n", "plain line\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, chunk []byte) {
		if len(chunk) == 0 {
			return
		}
		tx := sampleTx(timeZero(), StateInstalling)
		// Repeated past the record bound, whatever the chunk.
		tx.Log = string(bytes.Repeat(chunk, MaxTransactionBytes/len(chunk)+1)) + "END"
		b, err := encodeTransaction(tx)
		if err != nil || len(b) > MaxTransactionBytes {
			t.Fatalf("encoding: %d bytes, %v", len(b), err)
		}
		got, err := decodeTransaction(b)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(got.Log, "END") || !utf8.ValidString(got.Log) {
			t.Fatalf("log of %d bytes lost its tail or is not UTF-8", len(got.Log))
		}
	})
}

package updates

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkFetchURL256MiB measures a verified fetch of a 256 MiB artifact
// from a local HTTP server against the baseline it replaces: curl writing
// the file, then sha256sum reading it, as two subprocesses, in the same run.
func BenchmarkFetchURL256MiB(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "artifact.bin")
	want := writeRandomFile(b, src, size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, src) // sendfile: the server costs little CPU
	}))
	defer srv.Close()
	dst := filepath.Join(dir, "fetched.bin")

	b.Run("patchnet", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			os.Remove(dst)
			if err := FetchURL(context.Background(), srv.URL, want, dst, FetchOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("curl+sha256sum", func(b *testing.B) {
		if _, err := exec.LookPath("curl"); err != nil {
			b.Skip("curl not installed")
		}
		b.SetBytes(size)
		for b.Loop() {
			os.Remove(dst)
			if out, err := exec.Command("curl", "-s", "-o", dst, srv.URL).CombinedOutput(); err != nil {
				b.Fatalf("curl: %v: %s", err, out)
			}
			out, err := exec.Command("sha256sum", dst).Output()
			if err != nil {
				b.Fatalf("sha256sum: %v", err)
			}
			if !strings.HasPrefix(string(out), want.SHA256.String()) {
				b.Fatalf("sha256sum: %s", out)
			}
		}
	})
}

// writeRandomFile writes size pseudo-random bytes and returns what a fetch
// of them must be.
func writeRandomFile(b *testing.B, path string, size int64) Want {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	r := rand.NewChaCha8([32]byte{1})
	if _, err := io.CopyN(w, r, size); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	var d Digest
	h.Sum(d[:0])
	return Want{Size: size, SHA256: d}
}

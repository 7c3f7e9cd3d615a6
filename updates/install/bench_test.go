package install

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchArtifactSize is the file BenchmarkVerifyArtifact copies and hashes.
const benchArtifactSize = 64 << 20

// benchFile writes size random bytes.
func benchFile(b *testing.B, size int) string {
	b.Helper()
	buf := make([]byte, size)
	rand.Read(buf)
	path := filepath.Join(b.TempDir(), "artifact.bin")
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkVerifyArtifact measures the checked copy into the state
// directory; BenchmarkCpThenSha256sum is the baseline a shell script would
// use for the same guarantee (copy, then hash the copy).
func BenchmarkVerifyArtifact(b *testing.B) {
	src := benchFile(b, benchArtifactSize)
	want := expectOf(b, src)
	dir := b.TempDir()
	b.SetBytes(benchArtifactSize)
	b.ResetTimer()
	for b.Loop() {
		if _, err := VerifyArtifact(src, dir, want); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCpThenSha256sum(b *testing.B) {
	for _, tool := range []string{"cp", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed", tool)
		}
	}
	src := benchFile(b, benchArtifactSize)
	dst := filepath.Join(b.TempDir(), "copy")
	b.SetBytes(benchArtifactSize)
	b.ResetTimer()
	for b.Loop() {
		if out, err := exec.Command("sh", "-c", `cp "$1" "$2" && sync "$2" && sha256sum "$2"`, "sh", src, dst).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// BenchmarkDpkgTransaction measures a journalled, pinned, snapshotted
// dpkg install (alternating two versions); BenchmarkPlainDpkgInstall is
// plain dpkg -i of the same packages, the baseline.
func BenchmarkDpkgTransaction(b *testing.B) {
	needTool(b, "dpkg")
	debs := []string{helloDeb(b, "1.0", ""), helloDeb(b, "2.0", "")}
	tm := newTestManager(b, newDpkgRoot(b), nil)
	arts := make([]VerifiedArtifact, 2)
	for i, d := range debs {
		a, err := tm.VerifyArtifact(d, expectOf(b, d))
		if err != nil {
			b.Fatal(err)
		}
		arts[i] = a
	}
	i := 0
	for b.Loop() {
		if _, err := tm.InstallVerified(context.Background(), arts[i%2], Plan{Method: "dpkg"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPlainDpkgInstall(b *testing.B) {
	needTool(b, "dpkg")
	debs := []string{helloDeb(b, "1.0", ""), helloDeb(b, "2.0", "")}
	root := newDpkgRoot(b)
	i := 0
	for b.Loop() {
		run(b, "dpkg", "--root="+root, "--log=/dev/null", "--install", debs[i%2])
		i++
	}
}

// benchTree is a tar.gz of 2000 small files in 20 directories, with a few
// symlinks, for the extraction benchmarks.
func benchTree(b *testing.B) string {
	b.Helper()
	var entries []entry
	for i := range 2000 {
		entries = append(entries, entry{name: fmt.Sprintf("d%02d/f%04d.txt", i%20, i), body: strings.Repeat("x", 512)})
	}
	for i := range 20 {
		entries = append(entries, entry{name: fmt.Sprintf("l%02d", i), link: fmt.Sprintf("d%02d/f%04d.txt", i, i), typ: tar.TypeSymlink})
	}
	return writeTarGz(b, "tree.tar.gz", entries)
}

// BenchmarkExtract measures unpacking through os.Root with the symlink
// checks; BenchmarkTarExtract is GNU tar unpacking the same archive, the
// baseline.
func BenchmarkExtract(b *testing.B) {
	src, dir := benchTree(b), b.TempDir()
	i := 0
	for b.Loop() {
		if err := Extract(src, filepath.Join(dir, strconv.Itoa(i)), 1<<30); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkTarExtract(b *testing.B) {
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("tar not installed")
	}
	src, dir := benchTree(b), b.TempDir()
	i := 0
	for b.Loop() {
		out := filepath.Join(dir, strconv.Itoa(i))
		os.Mkdir(out, 0o755)
		if o, err := exec.Command("sh", "-c", `tar -xzf "$1" -C "$2" && sync -f "$2"`, "sh", src, out).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, o)
		}
		i++
	}
}

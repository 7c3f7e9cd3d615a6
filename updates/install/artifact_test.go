package install

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/trust"
)

func TestVerifyArtifactRejectsWrongSoftware(t *testing.T) {
	src := filepath.Join(t.TempDir(), "pkg.deb")
	writeFile(t, src, "the real bytes")
	good := expectOf(t, src)
	cases := map[string]Expect{
		"wrong digest":      {Name: "pkg.deb", Size: good.Size, SHA256: sha256.Sum256([]byte("other bytes"))},
		"shorter than said": {Name: "pkg.deb", Size: good.Size + 1, SHA256: good.SHA256},
		"endless data":      {Name: "pkg.deb", Size: good.Size - 4, SHA256: good.SHA256},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := VerifyArtifact(src, dir, want)
			if !errors.Is(err, trust.ErrDigestMismatch) || !errors.Is(err, trust.ErrUntrusted) {
				t.Fatalf("error %v, want ErrDigestMismatch", err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("the unverified copy was left: %v", left)
			}
		})
	}
	art, err := VerifyArtifact(src, t.TempDir(), good)
	if err != nil {
		t.Fatal(err)
	}
	// Changing the source afterwards cannot reach the installer.
	writeFile(t, src, "swapped after the check")
	if got := readFile(t, art.Path()); got != "the real bytes" {
		t.Errorf("verified copy is %q", got)
	}
}

func TestVerifyArtifactRefusesBadNames(t *testing.T) {
	src := filepath.Join(t.TempDir(), "f")
	writeFile(t, src, "x")
	for _, name := range []string{"", "..", "../x", "a/b", strings.Repeat("n", 300)} {
		want := expectOf(t, src)
		want.Name = name
		if _, err := VerifyArtifact(src, t.TempDir(), want); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestKeptFileTamperedRefused(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	tm := newTestManager(t, root, nil)
	tm.mustInstall(t, helloDeb(t, "1.0", ""), Plan{Method: "dpkg"})
	tx := tm.mustInstall(t, helloDeb(t, "2.0", ""), Plan{Method: "dpkg"})
	writeFile(t, tx.Before.Path, "not the kept package any more")
	_, err := tm.Rollback(t.Context(), tx.ID)
	if !errors.Is(err, trust.ErrDigestMismatch) {
		t.Fatalf("rollback with a tampered kept file: %v", err)
	}
	if got := dpkgState(t, root, "pn-hello"); got != "installed 2.0" {
		t.Errorf("after the refused rollback dpkg says %q", got)
	}
}

func TestWrongArtifactCannotCorruptKeptPackage(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	tm := newTestManager(t, root, nil)
	deb := helloDeb(t, "1.0", "")
	want := expectOf(t, deb)
	tx := tm.mustInstall(t, deb, Plan{Method: "dpkg"})
	kept, digest, ok := tm.packages.Lookup("dpkg", "pn-hello", "1.0")
	if !ok {
		t.Fatal("the installed package was not kept")
	}
	// Same name and claim, wrong bytes: refused, and the kept file (a hard
	// link of the earlier verified copy) keeps its content.
	evil := filepath.Join(t.TempDir(), want.Name)
	writeFile(t, evil, strings.Repeat("x", int(want.Size)))
	if _, err := tm.VerifyArtifact(evil, want); !errors.Is(err, trust.ErrDigestMismatch) {
		t.Fatalf("wrong bytes: %v", err)
	}
	if _, err := reverifyKept(kept, digest); err != nil {
		t.Errorf("kept package damaged: %v", err)
	}
	if _, err := reverifyKept(tx.Artifact.Path, tx.Artifact.SHA256); err != nil {
		t.Errorf("verified artifact damaged: %v", err)
	}
}

package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %#o", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}

func TestReadFileBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(path, 5); err != nil || string(got) != "12345" {
		t.Errorf("ReadFile at the bound = %q, %v; want the whole file", got, err)
	}
	if got, err := ReadFile(path, 4); !errors.Is(err, ErrTooLarge) || got != nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile past the bound = %q, %v; want nil and ErrTooLarge naming the file", got, err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing"), 4); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want ErrNotExist", err)
	}
}

// WriteFileExclusive writes a new file whole with its mode, and refuses,
// leaving it as it was, a path that exists.
func TestWriteFileExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swarm.key")
	if err := WriteFileExclusive(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileExclusive(path, []byte("second"), 0o600); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second write: %v, want a refusal", err)
	}
	got, err := os.ReadFile(path)
	st, serr := os.Stat(path)
	if err != nil || serr != nil || string(got) != "first" || st.Mode().Perm() != 0o600 {
		t.Fatalf("file %q mode %v (%v, %v), want the first write at 0600", got, st.Mode().Perm(), err, serr)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".swarm.key.tmp*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

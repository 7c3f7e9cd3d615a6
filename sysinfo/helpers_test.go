package sysinfo

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// assertMalformed checks a parser's answer to bad input: no packages, an
// ErrMalformed error whose text contains wantMsg.
func assertMalformed[T any](t *testing.T, got []T, err error, wantMsg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; got %d results", len(got))
	}
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("error %q does not match ErrMalformed", err)
	}
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("error %q does not contain %q", err, wantMsg)
	}
	if got != nil {
		t.Errorf("got %d results along with the error, want none", len(got))
	}
}

// parseFile runs a parser on a file.
func parseFile(t *testing.T, parse func(r io.Reader) ([]Package, error), name string) []Package {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgs, err := parse(f)
	if err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return pkgs
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// collectFixture takes the inventory of testdata/roots/NAME.
func collectFixture(t *testing.T, name string) *Inventory {
	t.Helper()
	return collectRoot(t, filepath.Join("testdata", "roots", name))
}

// collectRoot takes the inventory of the filesystem root dir.
func collectRoot(t *testing.T, dir string) *Inventory {
	t.Helper()
	inv, err := Collect(context.Background(), Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

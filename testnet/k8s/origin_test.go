package k8s

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The vendor origin serves its directories' files (the first directory
// that has a name wins), hides dot names such as a ConfigMap mount's
// ..data, and counts the bytes of files it served, not of error pages
// or of its own answer at OriginServedPath, which FetchOriginServed
// reads.
func TestOriginServesDirsAndCountsBytes(t *testing.T) {
	fix, debs := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(fix, "fix.deb"), []byte("the fix"), 0o644)
	os.WriteFile(filepath.Join(debs, "fix.deb"), []byte("shadowed"), 0o644)
	os.WriteFile(filepath.Join(debs, "fix.deb.asc"), []byte("signature"), 0o644)
	os.Mkdir(filepath.Join(debs, "..data"), 0o755)
	os.WriteFile(filepath.Join(debs, "..data", "fix.deb.asc"), []byte("signature"), 0o644)
	o, err := NewOrigin(fix, debs)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o)
	defer srv.Close()
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/fix.deb", 200, "the fix"},
		{"/fix.deb.asc", 200, "signature"},
		{"/..data/fix.deb.asc", 404, ""},
		{"/.hidden", 404, ""},
		{"/missing.deb", 404, ""},
		{OriginServedPath, 200, `{"served_bytes":16}`},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || (tc.code == 200 && strings.TrimSpace(string(body)) != tc.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/fix.deb", nil)
	req.Header.Set("Range", "bytes=4-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, []byte("fix")) {
		t.Errorf("ranged GET: %d %q", resp.StatusCode, body)
	}
	got, err := FetchOriginServed(t.Context(), srv.URL+"/")
	if err != nil || got != 19 {
		t.Errorf("FetchOriginServed: %d, %v; want 19 (7 + 9 + a resumed 3)", got, err)
	}
	if got != o.Served() {
		t.Errorf("answered %d, counted %d", got, o.Served())
	}
}

// NewOrigin refuses what is not a directory, by name.
func TestNewOriginRefusesNonDirectories(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	for _, dirs := range [][]string{nil, {file}, {t.TempDir(), filepath.Join(t.TempDir(), "none")}} {
		if _, err := NewOrigin(dirs...); err == nil {
			t.Errorf("NewOrigin(%q) served", dirs)
		} else if len(dirs) > 0 && !strings.Contains(err.Error(), dirs[len(dirs)-1]) {
			t.Errorf("NewOrigin(%q): %v: names no directory", dirs, err)
		}
	}
}

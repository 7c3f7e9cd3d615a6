package updates

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchnet/patchnet/sysinfo"
)

// testNow is the time announcements in tests are written at.
var testNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// testPatchnet is a valid patchnet section for an artifact with content.
func testPatchnet(content []byte) Patchnet {
	return Patchnet{
		Version:    1,
		Categories: []Category{CategorySecurity},
		Expires:    testNow.Add(30 * 24 * time.Hour),
		Artifact: &Artifact{
			Name: "openssl_3.0.23-1~deb12u1_amd64.deb", Size: int64(len(content)),
			SHA256: sha256.Sum256(content), Method: MethodDpkg,
			URLs: []string{"https://deb.example.org/pool/openssl.deb"},
		},
	}
}

// readAdvisory converts testdata/advisories/NAME as an announcement.
func readAdvisory(t *testing.T, name string) *Announcement {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "advisories", name))
	if err != nil {
		t.Fatal(err)
	}
	a, err := FromOSV(raw, testPatchnet([]byte("artifact")), testNow)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

// fixtureHost collects the inventory of a fixture root: sysinfo's, or ours
// for roots sysinfo does not have.
func fixtureHost(t *testing.T, root string) Host {
	t.Helper()
	dir := filepath.Join("..", "sysinfo", "testdata", "roots", root)
	if _, err := os.Stat(filepath.Join("testdata", "roots", root)); err == nil {
		dir = filepath.Join("testdata", "roots", root)
	}
	inv, err := sysinfo.Collect(context.Background(), sysinfo.Options{Root: dir})
	if err != nil {
		t.Fatalf("collecting %s: %v", dir, err)
	}
	if len(inv.Errors) > 0 || len(inv.Software) == 0 {
		t.Fatalf("collecting %s: %d packages, errors %v", dir, len(inv.Software), inv.Errors)
	}
	return HostFromInventory(inv)
}

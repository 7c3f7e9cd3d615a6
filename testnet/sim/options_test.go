package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/testnet"
)

// TestRealInstallersNeedDpkg: a run with real installers on a host without
// dpkg's tools is refused before anything starts, naming the missing tool.
func TestRealInstallersNeedDpkg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	_, err := RunWith(context.Background(), small(testnet.ScenarioPropagation), nil, Options{Dir: dir, RealInstallers: true})
	if err == nil || !strings.Contains(err.Error(), "dpkg is not on PATH") {
		t.Fatalf("RunWith with real installers and no dpkg: %v, want an error naming dpkg", err)
	}
}

package zonekit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// SetKeys sets a key in its own table only, uncomments an example line,
// and names a key the file lacks.
func TestSetKeys(t *testing.T) {
	const in = `[heartbeat]
# How often. Default: "1m".
interval = "1m"
max_age = "3m"

[overlay.sync]
interval = "2m"

[install]
#prefixes = { myapp = "/opt/myapp" }
`
	const want = `[heartbeat]
# How often. Default: "1m".
interval = "1s"
max_age = "3m"

[overlay.sync]
interval = "2m"

[install]
prefixes = { "*" = "/x" }
`
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetKeys(path, map[string]string{"heartbeat.interval": `"1s"`, "install.prefixes": `{ "*" = "/x" }`}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Errorf("SetKeys (-want +got):\n%s", d)
	}
	err := SetKeys(path, map[string]string{"heartbeat.nope": "1"})
	if err == nil || !strings.Contains(err.Error(), "heartbeat.nope") {
		t.Errorf("a missing key: %v; want an error naming it", err)
	}
}

package zonekit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// An update's rollout spread reaches `patchnet update new`, and an update
// without one passes no flag (the command's default, none).
func TestUpdateArgsRolloutSpread(t *testing.T) {
	u := Update{ID: "X-1", Artifact: "a.deb", Method: "dpkg", URL: "http://o/a.deb"}
	if args := strings.Join(u.Args("x.json"), " "); strings.Contains(args, "--rollout-spread") {
		t.Errorf("no spread, args %q", args)
	}
	u.RolloutSpread = 90 * time.Second
	args := u.Args("x.json")
	if diff := cmp.Diff([]string{"--rollout-spread", "1m30s"}, args[len(args)-2:]); diff != "" {
		t.Errorf("args %q end (-want +got):\n%s", args, diff)
	}
}

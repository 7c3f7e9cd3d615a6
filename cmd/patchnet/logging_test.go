package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// A node command logs through [log] on stderr: here JSON, with the
// start-up line naming the node and its metrics endpoint.
func TestNodeCommandLogsPerConfig(t *testing.T) {
	state := t.TempDir()
	root := nodeFiles(t, state, trust.RoleAgent)
	config := filepath.Join(t.TempDir(), "agent.toml")
	data := fmt.Sprintf(`state = %q
roots = [%q]
zone = "lab"
sysroot = %q

[overlay]
listen_addrs = ["/ip4/127.0.0.1/tcp/0"]

[install]
require_tool_pins = false

[log]
format = "json"
level = "debug"

[metrics]
listen = "127.0.0.1:0"
`, state, root, t.TempDir())
	if err := os.WriteFile(config, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	// The start-up line is logged when Run starts, just after the listen
	// addresses are printed: wait for it, not for those.
	cancel, done, buf := launchNodeCmd(t, trust.RoleAgent, "--config", config)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(buf.String(), `"msg":"node running"`) {
		select {
		case err := <-done:
			t.Fatalf("agent stopped: %v\n%s", err, buf.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start-up line within 30s:\n%s", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("agent: %v\n%s", err, buf.String())
	}
	out := buf.String()
	var start map[string]any
	for line := range strings.Lines(out) {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["msg"] == "node running" {
			start = r
		}
	}
	if start == nil {
		t.Fatalf("no JSON start-up line:\n%s", out)
	}
	if start["level"] != "INFO" || start["roles"] != "agent" || start["zone"] != "lab" ||
		!strings.HasPrefix(fmt.Sprint(start["peer"]), "12D3KooW") || !strings.HasPrefix(fmt.Sprint(start["metrics"]), "http://127.0.0.1:") {
		t.Errorf("start-up line %v: want level INFO, roles agent, zone lab, the peer ID and the metrics URL", start)
	}
}

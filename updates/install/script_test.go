package install

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeScript writes an update script.
func writeScript(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "update.sh")
	writeFile(t, path, body)
	return path
}

func TestScriptInstall(t *testing.T) {
	root := t.TempDir()
	tm := newTestManager(t, root, nil)
	script := writeScript(t, `#!/bin/sh
# patchnet: rollback
set -eu
case "$PATCHNET_ACTION" in
install)  echo "v2 $PATCHNET_ANNOUNCEMENT_ID $PATCHNET_INSTRUCTIONS" > "$PATCHNET_ROOT/etc-app.conf"; echo "secret=${SECRET:-unset}"; pwd ;;
rollback) echo v1 > "$PATCHNET_ROOT/etc-app.conf" ;;
esac
`)
	t.Setenv("SECRET", "leaked")
	tx := tm.mustInstall(t, script, Plan{Method: "script", AnnouncementID: "PNT-S-1", AnnouncementVersion: 3, Instructions: "restart app"})
	if got := readFile(t, filepath.Join(root, "etc-app.conf")); got != "v2 PNT-S-1 restart app\n" {
		t.Errorf("script wrote %q", got)
	}
	if !strings.Contains(tx.Log, "secret=unset") {
		t.Errorf("the agent's environment reached the script; log:\n%s", tx.Log)
	}
	if !strings.Contains(tx.Log, filepath.Join(tm.state, "keep", tx.ID)) {
		t.Errorf("the script did not run in its own working directory; log:\n%s", tx.Log)
	}
	if tx.Before.Kind != BeforeScript {
		t.Fatalf("before-state %q, want the declared rollback", tx.Before.Kind)
	}
	if _, err := tm.Rollback(context.Background(), tx.ID); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "etc-app.conf")); got != "v1\n" {
		t.Errorf("after rollback %q", got)
	}
}

func TestScriptIrreversibleRefusesRollback(t *testing.T) {
	tm := newTestManager(t, t.TempDir(), nil)
	tx := tm.mustInstall(t, writeScript(t, "true\n"), Plan{Method: "script"})
	if tx.Before.Kind != BeforeNone {
		t.Fatalf("before-state %q, want none", tx.Before.Kind)
	}
	_, err := tm.Rollback(context.Background(), tx.ID)
	if err == nil || !strings.Contains(err.Error(), "no before-state") {
		t.Errorf("rollback of an irreversible script: %v", err)
	}
}

func TestScriptTimeoutKilled(t *testing.T) {
	root := t.TempDir()
	tm := newTestManager(t, root, func(c *Config) { c.ScriptTimeout = 500 * time.Millisecond })
	// The child keeps the output pipe open: the whole process group must die.
	script := writeScript(t, "sleep 60 &\nsleep 60\necho finished > \"$PATCHNET_ROOT/finished\"\n")
	tx, err := tm.install(t, script, Plan{Method: "script"})
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("error %v, want a timeout", err)
	}
	if tx.State != StateBroken {
		t.Errorf("an irreversible script that was killed left the transaction %s, want broken", tx.State)
	}
	if got := readFile(t, filepath.Join(root, "finished")); got != "<missing>" {
		t.Errorf("the script ran to the end")
	}
}

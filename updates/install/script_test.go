package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newShellRoot makes a sysroot holding this host's sh and the given
// programs with the libraries they link (found with ldd), so scripts can
// run chrooted into it. Chroot needs root: the test skips otherwise.
func newShellRoot(t testing.TB, programs ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running a script chrooted into a sysroot needs root")
	}
	root := t.TempDir()
	for _, name := range append([]string{"sh"}, programs...) {
		bin, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s is not installed", name)
		}
		copyWithLibs(t, root, bin, "/bin/"+name)
	}
	return root
}

// copyWithLibs copies the binary bin to dst inside root, and each library
// ldd lists for it to the same path inside root.
func copyWithLibs(t testing.TB, root, bin, dst string) {
	t.Helper()
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		t.Fatal(err)
	}
	copyExecutable(t, real, filepath.Join(root, dst))
	out, _ := exec.Command("ldd", real).Output()
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			copyExecutable(t, f, filepath.Join(root, f))
		}
	}
}

// copyExecutable copies a file with mode 0755, creating directories.
func copyExecutable(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// writeScript writes an update script.
func writeScript(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "update.sh")
	writeFile(t, path, body)
	return path
}

func TestScriptInstall(t *testing.T) {
	root := newShellRoot(t)
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
	if !strings.Contains(tx.Log, "\n/tmp/patchnet-"+tx.ID+"-install\n") {
		t.Errorf("the script did not run in its own working directory inside the sysroot; log:\n%s", tx.Log)
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
	tm := newTestManager(t, newShellRoot(t), nil)
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
	root := newShellRoot(t, "sleep")
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

// TestScriptNeverRunsOnHostForSysroot: a script installed into a sysroot
// runs chrooted into it with the sysroot's own shell, so its absolute
// paths land in the sysroot; a sysroot with no shell is refused, and the
// host is untouched either way.
func TestScriptNeverRunsOnHostForSysroot(t *testing.T) {
	marker := fmt.Sprintf("/tmp/pn-script-marker-%d", time.Now().UnixNano())
	t.Cleanup(func() { os.Remove(marker) })
	script := writeScript(t, "echo \"$PATCHNET_ACTION\" > "+marker+"\n")

	t.Run("chrooted into the sysroot", func(t *testing.T) {
		root := newShellRoot(t)
		tm := newTestManager(t, root, nil)
		tm.mustInstall(t, script, Plan{Method: "script"})
		if got := readFile(t, filepath.Join(root, marker)); got != "install\n" {
			t.Errorf("the sysroot's %s holds %q, want the script's output", marker, got)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the script wrote %s on this host", marker)
		}
		if left, _ := filepath.Glob(filepath.Join(root, "tmp/patchnet-*")); len(left) > 0 {
			t.Errorf("the script's copy was left in the sysroot: %v", left)
		}
	})
	t.Run("sysroot without a shell", func(t *testing.T) {
		root := t.TempDir()
		tm := newTestManager(t, root, nil)
		tx, err := tm.install(t, script, Plan{Method: "script"})
		if err == nil || !strings.Contains(err.Error(), "no usable /bin/sh") {
			t.Fatalf("install into a sysroot without a shell: %v", err)
		}
		if tx.State != StateFailed {
			t.Errorf("transaction %s, want failed with nothing changed", tx.State)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the script ran on this host")
		}
	})
}

func TestScriptSysrootShellIsPinned(t *testing.T) {
	root := newShellRoot(t)
	tm := newTestManager(t, root, func(c *Config) { c.RequireToolPins = true; c.ToolPins = hostPins(t) })
	_, err := tm.install(t, writeScript(t, "true\n"), Plan{Method: "script"})
	var unpinned *UnpinnedToolError
	if !errors.As(err, &unpinned) || unpinned.Path != filepath.Join(root, "bin/sh") {
		t.Fatalf("install with the sysroot's shell unpinned: %v, want UnpinnedToolError for %s", err, filepath.Join(root, "bin/sh"))
	}
}

// hostPins pins this host's installer binaries.
func hostPins(t *testing.T) map[string]string {
	t.Helper()
	pins, err := PinTools(Tools{})
	if err != nil {
		t.Fatal(err)
	}
	return pins
}

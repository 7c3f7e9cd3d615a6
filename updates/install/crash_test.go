package install

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// crashCase is one failpoint and the version the host must end at.
type crashCase struct {
	point string
	// half, when set, leaves dpkg half-way (v2 unpacked, not configured)
	// before the crash, as a dpkg killed mid-run would.
	half    bool
	wantNew bool
}

func TestCrashRecoveryAfterEachStep(t *testing.T) {
	t.Parallel()
	cases := []crashCase{
		{point: pointPrepared},
		{point: pointBeforeSaved},
		{point: pointInstalling},
		{point: pointInstalling, half: true},
		{point: pointToolRan, wantNew: true},
		{point: pointInstalled, wantNew: true},
		{point: pointCommitted, wantNew: true},
	}
	if len(crashPoints) != 6 {
		t.Fatalf("crash points changed (%v): update the cases", crashPoints)
	}
	v1, v2 := helloDeb(t, "1.0", ""), helloDeb(t, "2.0", "")
	for _, c := range cases {
		name := c.point
		if c.half {
			name += "-dpkg-half-done"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := newDpkgRoot(t)
			state := t.TempDir()
			tm := openTestManager(t, state, root, nil)
			tm.mustInstall(t, v1, Plan{Method: "dpkg"})
			tm.crashHook = func(point string) bool {
				if point == c.point && c.half {
					run(t, "dpkg", "--root="+root, "--log=/dev/null", "--unpack", v2)
				}
				return point == c.point
			}
			tx, err := tm.install(t, v2, Plan{Method: "dpkg"})
			if !errors.Is(err, errCrashed) {
				t.Fatalf("install returned %v, want the simulated crash", err)
			}
			tm.Close()
			after := openTestManager(t, state, root, nil)
			assertOldOrNew(t, root, c.wantNew)
			got, err := after.Get(tx.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := map[bool]State{false: StateFailed, true: StateCommitted}[c.wantNew]
			if got.State != want {
				t.Errorf("journal says %s after recovery, want %s (error %q)", got.State, want, got.Error)
			}
			if c.point != pointCommitted && !got.Recovered {
				t.Errorf("the recovery was not journalled")
			}
		})
	}
}

// assertOldOrNew checks both dpkg's database and the installed file.
func assertOldOrNew(t *testing.T, root string, wantNew bool) {
	t.Helper()
	wantState, wantMsg := "installed 1.0", "hello 1.0\n"
	if wantNew {
		wantState, wantMsg = "installed 2.0", "hello 2.0\n"
	}
	if got := dpkgState(t, root, "pn-hello"); got != wantState {
		t.Errorf("dpkg says %q, want %q", got, wantState)
	}
	if got := readFile(t, filepath.Join(root, "opt/pn-hello/msg")); got != wantMsg {
		t.Errorf("installed file %q, want %q", got, wantMsg)
	}
}

// TestCrashRecoveryAfterProcessDeath kills a real process (os.Exit, no
// deferred cleanup, the journal not closed) right after dpkg ran, then
// recovers in this process.
func TestCrashRecoveryAfterProcessDeath(t *testing.T) {
	if os.Getenv("PN_CRASH_CHILD") == "1" {
		crashChild(t)
		return
	}
	root, state := newDpkgRoot(t), t.TempDir()
	v1, v2 := helloDeb(t, "1.0", ""), helloDeb(t, "2.0", "")
	tm := openTestManager(t, state, root, nil)
	tm.mustInstall(t, v1, Plan{Method: "dpkg"})
	tm.Close()
	for _, point := range []string{pointInstalling, pointToolRan} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecoveryAfterProcessDeath$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PN_CRASH_CHILD=1", "PN_CRASH_STATE="+state, "PN_CRASH_ROOT="+root,
			"PN_CRASH_DEB="+v2, "PN_CRASH_POINT="+point)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Fatalf("child at %s: %v, want exit 3\n%s", point, err, out)
		}
		after := openTestManager(t, state, root, nil)
		assertOldOrNew(t, root, point == pointToolRan)
		after.Close()
	}
}

// crashChild installs PN_CRASH_DEB and dies at PN_CRASH_POINT.
func crashChild(t *testing.T) {
	cfg := DefaultConfig(os.Getenv("PN_CRASH_STATE"))
	cfg.Root = os.Getenv("PN_CRASH_ROOT")
	m, _, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.crashHook = func(point string) bool {
		if point == os.Getenv("PN_CRASH_POINT") {
			os.Exit(3)
		}
		return false
	}
	tm := &testManager{Manager: m}
	tm.install(t, os.Getenv("PN_CRASH_DEB"), Plan{Method: "dpkg"})
	t.Fatal("the child did not reach its crash point")
}

func TestCrashRecoveryArchive(t *testing.T) {
	t.Parallel()
	for _, point := range crashPoints {
		t.Run(point, func(t *testing.T) {
			root, state := t.TempDir(), t.TempDir()
			tm := openTestManager(t, state, root, nil)
			plan := Plan{Method: "archive", Prefix: "/opt/app"}
			tm.mustInstall(t, writeTarGz(t, "v1.tar.gz", []entry{{name: "v", body: "1"}}), plan)
			tm.crashHook = func(p string) bool { return p == point }
			tx, err := tm.install(t, writeTarGz(t, "v2.tar.gz", []entry{{name: "v", body: "2"}}), plan)
			if !errors.Is(err, errCrashed) {
				t.Fatalf("install: %v", err)
			}
			tm.Close()
			after := openTestManager(t, state, root, nil)
			want := "1"
			if point == pointToolRan || point == pointInstalled || point == pointCommitted {
				want = "2"
			}
			if got := readFile(t, filepath.Join(root, "opt/app/v")); got != want {
				t.Errorf("after recovery the tree has version %q, want %q", got, want)
			}
			if left, _ := filepath.Glob(filepath.Join(root, "opt/app.*")); len(left) > 0 {
				t.Errorf("recovery left %v", left)
			}
			if want == "2" {
				// The replaced tree is where the journal says, and a
				// rollback after the recovery brings it back.
				if got := readFile(t, filepath.Join(keptTree(filepath.Join(root, "opt/app"), tx.ID), "v")); got != "1" {
					t.Errorf("the kept tree holds %q, want v1", got)
				}
				if _, err := after.Rollback(context.Background(), tx.ID); err != nil {
					t.Fatal(err)
				}
				if got := readFile(t, filepath.Join(root, "opt/app/v")); got != "1" {
					t.Errorf("rollback after recovery left version %q", got)
				}
			}
		})
	}
}

func TestCrashRecoveryDuringRollback(t *testing.T) {
	t.Parallel()
	v1, v2 := helloDeb(t, "1.0", ""), helloDeb(t, "2.0", "")
	for _, point := range []string{pointInstalling, pointToolRan} {
		t.Run(point, func(t *testing.T) {
			root, state := newDpkgRoot(t), t.TempDir()
			tm := openTestManager(t, state, root, nil)
			tm.mustInstall(t, v1, Plan{Method: "dpkg"})
			tx2 := tm.mustInstall(t, v2, Plan{Method: "dpkg"})
			tm.crashHook = func(p string) bool { return p == point }
			if _, err := tm.Rollback(context.Background(), tx2.ID); !errors.Is(err, errCrashed) {
				t.Fatalf("rollback: %v", err)
			}
			tm.Close()
			after := openTestManager(t, state, root, nil)
			// Before the tool ran the rollback is undone (v2 stays);
			// after, it is finished (v1 is back).
			rolledBack := point == pointToolRan
			assertOldOrNew(t, root, !rolledBack)
			orig, err := after.Get(tx2.ID)
			if err != nil {
				t.Fatal(err)
			}
			if (orig.RolledBackBy != "") != rolledBack {
				t.Errorf("original marked rolled back by %q; want marked: %v", orig.RolledBackBy, rolledBack)
			}
		})
	}
}

func TestRecoveryFailureDoesNotBlockOpen(t *testing.T) {
	state := t.TempDir()
	store, err := OpenBadgerStore(filepath.Join(state, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	tx := sampleTx(timeZero(), StateInstalling)
	tx.Plan.Method = "no-such-method"
	if err := store.Put(tx); err != nil {
		t.Fatal(err)
	}
	store.Close()
	var alerts []Alert
	tm := openTestManager(t, state, t.TempDir(), func(c *Config) { c.OnAlert = func(a Alert) { alerts = append(alerts, a) } })
	got, err := tm.Get(tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateBroken || len(alerts) != 1 || alerts[0].Kind != AlertRecoveryFailed {
		t.Errorf("state %s, alerts %+v; want broken with a recovery-failed alert", got.State, alerts)
	}
}

func TestCrashRecoveryRPM(t *testing.T) {
	t.Parallel()
	needTool(t, "rpm")
	v1, v2 := helloRPM(t, "1.0-1", ""), helloRPM(t, "2.0-1", "")
	for _, point := range []string{pointInstalling, pointToolRan} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			root, state := newRPMRoot(t), t.TempDir()
			tm := openTestManager(t, state, root, nil)
			tm.mustInstall(t, v1, Plan{Method: "rpm"})
			tm.crashHook = func(p string) bool { return p == point }
			if _, err := tm.install(t, v2, Plan{Method: "rpm"}); !errors.Is(err, errCrashed) {
				t.Fatalf("install: %v", err)
			}
			tm.Close()
			openTestManager(t, state, root, nil)
			want := map[string]string{pointInstalling: "1.0-1", pointToolRan: "2.0-1"}[point]
			if got := rpmState(t, root, "pn-hello"); got != want {
				t.Errorf("rpm says %q after recovery, want %q", got, want)
			}
			if got := readFile(t, filepath.Join(root, "opt/pn-hello/msg")); got != "hello "+want {
				t.Errorf("installed file %q, want version %s", got, want)
			}
		})
	}
}

func TestCrashRecoveryScript(t *testing.T) {
	cases := map[string]struct {
		script    string
		wantState State
		wantFile  string
	}{
		"reversible script is rolled back": {"# patchnet: rollback\necho $PATCHNET_ACTION > \"$PATCHNET_ROOT/state\"\n", StateFailed, "rollback\n"},
		"irreversible script is broken":    {"echo $PATCHNET_ACTION > \"$PATCHNET_ROOT/state\"\n", StateBroken, "install\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			root, state := newShellRoot(t), t.TempDir()
			tm := openTestManager(t, state, root, nil)
			tm.crashHook = func(p string) bool { return p == pointToolRan }
			tx, err := tm.install(t, writeScript(t, c.script), Plan{Method: "script"})
			if !errors.Is(err, errCrashed) {
				t.Fatalf("install: %v", err)
			}
			tm.Close()
			var alerts []Alert
			after := openTestManager(t, state, root, func(cfg *Config) { cfg.OnAlert = func(a Alert) { alerts = append(alerts, a) } })
			got, _ := after.Get(tx.ID)
			if got.State != c.wantState {
				t.Errorf("state %s, want %s (%s)", got.State, c.wantState, got.Error)
			}
			if c.wantState == StateBroken && (len(alerts) != 1 || alerts[0].Kind != AlertStateUnknown) {
				t.Errorf("alerts %+v, want one state-unknown", alerts)
			}
			if f := readFile(t, filepath.Join(root, "state")); f != c.wantFile {
				t.Errorf("script left %q, want %q", f, c.wantFile)
			}
		})
	}
}

// TestCrashRecoveryArchiveRollbackMidSwap crashes a rollback between the
// swap and the rename that keeps the displaced tree: recovery must find
// that tree by its inode and keep it under the rollback's name, so the
// rollback can itself be rolled back.
func TestCrashRecoveryArchiveRollbackMidSwap(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	prefix := filepath.Join(root, "opt/app")
	tm := openTestManager(t, state, root, nil)
	plan := Plan{Method: "archive", Prefix: "/opt/app"}
	tm.mustInstall(t, writeTarGz(t, "v1.tar.gz", []entry{{name: "v", body: "1"}}), plan)
	tx2 := tm.mustInstall(t, writeTarGz(t, "v2.tar.gz", []entry{{name: "v", body: "2"}}), plan)
	tm.crashHook = func(p string) bool { return p == pointInstalling }
	rb, err := tm.Rollback(context.Background(), tx2.ID)
	if !errors.Is(err, errCrashed) {
		t.Fatalf("rollback: %v", err)
	}
	// What the rollback's first step does, then the process dies.
	if err := swapIn(tx2.Before.Path, prefix); err != nil {
		t.Fatal(err)
	}
	tm.Close()
	after := openTestManager(t, state, root, nil)
	got, err := after.Get(rb.ID)
	if err != nil || got.State != StateCommitted {
		t.Fatalf("rollback after recovery: %v %+v", err, got)
	}
	if v := readFile(t, filepath.Join(prefix, "v")); v != "1" {
		t.Errorf("prefix holds %q after the recovered rollback, want 1", v)
	}
	if v := readFile(t, filepath.Join(got.Before.Path, "v")); v != "2" {
		t.Errorf("the rollback's kept tree %s holds %q, want 2", got.Before.Path, v)
	}
	if _, err := after.Rollback(context.Background(), rb.ID); err != nil {
		t.Fatalf("rolling back the recovered rollback: %v", err)
	}
	if v := readFile(t, filepath.Join(prefix, "v")); v != "2" {
		t.Errorf("prefix holds %q after undoing the rollback, want 2", v)
	}
}

package install

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func helloRPM(t testing.TB, version, requires string) string {
	return buildRPM(t, pkgSpec{name: "pn-hello", version: version, depends: requires,
		files: map[string]string{"/opt/pn-hello/msg": "hello " + version}})
}

func TestRPMInstallUpgradeRollback(t *testing.T) {
	t.Parallel()
	root := newRPMRoot(t)
	tm := newTestManager(t, root, nil)
	msg := filepath.Join(root, "opt/pn-hello/msg")
	check := func(step, wantVersion, wantMsg string) {
		t.Helper()
		if got := rpmState(t, root, "pn-hello"); got != wantVersion {
			t.Errorf("%s: rpm says %q, want %q", step, got, wantVersion)
		}
		if got := readFile(t, msg); got != wantMsg {
			t.Errorf("%s: msg is %q, want %q", step, got, wantMsg)
		}
	}
	v1, v2 := helloRPM(t, "1.0-1", ""), helloRPM(t, "2.0-1", "")
	tm.mustInstall(t, v1, Plan{Method: "rpm"})
	check("v1", "1.0-1", "hello 1.0-1")
	tx2 := tm.mustInstall(t, v2, Plan{Method: "rpm"})
	check("v2", "2.0-1", "hello 2.0-1")
	if tx2.Before.Kind != BeforePackage || tx2.Before.Version != "1.0-1" {
		t.Errorf("upgrade before-state %+v, want the kept 1.0-1", tx2.Before)
	}
	if _, err := tm.Rollback(context.Background(), tx2.ID); err != nil {
		t.Fatal(err)
	}
	check("rolled back", "1.0-1", "hello 1.0-1")
}

func TestRPMExtraneousDependenciesFailCleanly(t *testing.T) {
	t.Parallel()
	root := newRPMRoot(t)
	tm := newTestManager(t, root, nil)
	tm.mustInstall(t, helloRPM(t, "1.0-1", ""), Plan{Method: "rpm"})
	tx, err := tm.install(t, helloRPM(t, "3.0-1", "pn-missing-dependency >= 1"), Plan{Method: "rpm"})
	if err == nil {
		t.Fatal("an rpm with an unmet dependency installed")
	}
	if tx.State != StateFailed || !strings.Contains(tx.Error, "pn-missing-dependency") {
		t.Errorf("transaction %s, error %q", tx.State, tx.Error)
	}
	if got := rpmState(t, root, "pn-hello"); got != "1.0-1" {
		t.Errorf("after the failure rpm says %q, want 1.0-1", got)
	}
}

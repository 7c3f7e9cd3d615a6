package install

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func helloDeb(t testing.TB, version, depends string) string {
	return buildDeb(t, pkgSpec{name: "pn-hello", version: version, depends: depends,
		files: map[string]string{"opt/pn-hello/msg": "hello " + version + "\n"}})
}

func TestDebInstallUpgradeRollback(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	tm := newTestManager(t, root, nil)
	msg := filepath.Join(root, "opt/pn-hello/msg")
	check := func(step, wantState, wantMsg string) {
		t.Helper()
		if got := dpkgState(t, root, "pn-hello"); got != wantState {
			t.Errorf("%s: dpkg says %q, want %q", step, got, wantState)
		}
		if got := readFile(t, msg); got != wantMsg {
			t.Errorf("%s: msg is %q, want %q", step, got, wantMsg)
		}
	}
	tx1 := tm.mustInstall(t, helloDeb(t, "1.0", ""), Plan{Method: "dpkg"})
	check("v1", "installed 1.0", "hello 1.0\n")
	if tx1.Before.Kind != BeforeAbsent {
		t.Errorf("first install before-state is %q, want absent", tx1.Before.Kind)
	}
	tx2 := tm.mustInstall(t, helloDeb(t, "2.0", ""), Plan{Method: "dpkg"})
	check("v2", "installed 2.0", "hello 2.0\n")
	if tx2.Before.Kind != BeforePackage || tx2.Before.Version != "1.0" {
		t.Errorf("upgrade before-state is %+v, want the kept 1.0 package", tx2.Before)
	}
	rb, err := tm.Rollback(context.Background(), tx2.ID)
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, rb.Log)
	}
	check("rolled back", "installed 1.0", "hello 1.0\n")
	if rb.Kind != KindRollback || rb.RollbackOf != tx2.ID || rb.State != StateCommitted {
		t.Errorf("rollback transaction %+v", rb)
	}
	again, err := tm.Get(tx2.ID)
	if err != nil || again.RolledBackBy != rb.ID {
		t.Fatalf("original not marked rolled back: %+v, %v", again, err)
	}
	if _, err := tm.Rollback(context.Background(), tx2.ID); err == nil {
		t.Error("second rollback of the same transaction succeeded")
	}
	rb1, err := tm.Rollback(context.Background(), tx1.ID)
	if err != nil {
		t.Fatalf("rollback of the first install: %v", err)
	}
	check("removed", "absent", "<missing>")
	if rb1.Goal.Absent != true {
		t.Errorf("rollback of a fresh install has goal %+v, want absent", rb1.Goal)
	}
}

func TestExtraneousDependenciesFailCleanly(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	tm := newTestManager(t, root, nil)
	tm.mustInstall(t, helloDeb(t, "1.0", ""), Plan{Method: "dpkg"})
	tx, err := tm.install(t, helloDeb(t, "3.0", "pn-missing-dependency (>= 1)"), Plan{Method: "dpkg"})
	if err == nil {
		t.Fatal("a package with an unmet dependency installed")
	}
	if tx.State != StateFailed {
		t.Errorf("transaction is %s, want failed", tx.State)
	}
	for _, want := range []string{"pn-missing-dependency", "dependency problems"} {
		if !strings.Contains(tx.Error, want) {
			t.Errorf("journal error %q does not say %q", tx.Error, want)
		}
	}
	if got := dpkgState(t, root, "pn-hello"); got != "installed 1.0" {
		t.Errorf("after the failure dpkg says %q, want \"installed 1.0\" (never unpacked/half-installed)", got)
	}
	if got := readFile(t, filepath.Join(root, "opt/pn-hello/msg")); got != "hello 1.0\n" {
		t.Errorf("installed file is %q, want the old version's", got)
	}
	stored, err := tm.Get(tx.ID)
	if err != nil || stored.State != StateFailed || !strings.Contains(stored.Log, "pn-missing-dependency") {
		t.Errorf("journal record: %+v, %v", stored, err)
	}
}

func TestDebBeforeStateRebuiltWithDpkgRepack(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-repack")
	root := newDpkgRoot(t)
	// v1 arrives outside patchnet, so patchnet has no copy of it.
	run(t, "dpkg", "--root="+root, "--log=/dev/null", "--install", helloDeb(t, "1.0", ""))
	tm := newTestManager(t, root, nil)
	tx := tm.mustInstall(t, helloDeb(t, "2.0", ""), Plan{Method: "dpkg"})
	if tx.Before.Kind != BeforePackage || !strings.Contains(tx.Before.Source, "dpkg-repack") {
		t.Fatalf("before-state %+v, want one rebuilt by dpkg-repack", tx.Before)
	}
	if _, err := tm.Rollback(context.Background(), tx.ID); err != nil {
		t.Fatal(err)
	}
	if got := dpkgState(t, root, "pn-hello"); got != "installed 1.0" {
		t.Errorf("after rollback dpkg says %q", got)
	}
	if got := readFile(t, filepath.Join(root, "opt/pn-hello/msg")); got != "hello 1.0\n" {
		t.Errorf("after rollback msg is %q", got)
	}
}

// TestDebRollbackKeepsConffilesOfRemovedPackage: a package removed with
// its configuration files left (config-files) is restored to exactly that,
// not purged: the host's (edited) conffile survives the rollback.
func TestDebRollbackKeepsConffilesOfRemovedPackage(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	conf := filepath.Join(root, "etc/pn-conf.conf")
	deb := func(version string) string {
		return buildDeb(t, pkgSpec{name: "pn-conf", version: version, files: map[string]string{
			"etc/pn-conf.conf": "setting=default\n", "DEBIAN/conffiles": "/etc/pn-conf.conf\n",
			"opt/pn-conf/msg": version}})
	}
	run(t, "dpkg", "--root="+root, "--log=/dev/null", "--install", deb("1.0"))
	writeFile(t, conf, "setting=edited by the admin\n")
	run(t, "dpkg", "--root="+root, "--log=/dev/null", "--remove", "pn-conf")
	status := func() string {
		out := run(t, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "--show", "--showformat=${db:Status-Status}", "pn-conf")
		return strings.TrimSpace(out)
	}
	if got := status(); got != "config-files" {
		t.Fatalf("setup: dpkg says %q, want config-files", got)
	}
	tm := newTestManager(t, root, nil)
	tx := tm.mustInstall(t, deb("2.0"), Plan{Method: "dpkg"})
	if !tx.Before.ConfigFiles || tx.Before.Kind != BeforeAbsent {
		t.Fatalf("before-state %+v, want absent with configuration files", tx.Before)
	}
	if _, err := tm.Rollback(context.Background(), tx.ID); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != "config-files" {
		t.Errorf("after rollback dpkg says %q, want config-files", got)
	}
	if got := readFile(t, conf); got != "setting=edited by the admin\n" {
		t.Errorf("after rollback the conffile is %q, want the admin's edit", got)
	}
	if got := readFile(t, filepath.Join(root, "opt/pn-conf/msg")); got != "<missing>" {
		t.Errorf("the package's files survived the rollback")
	}
}

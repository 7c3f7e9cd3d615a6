package install

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/patchnet/patchnet/trust"
)

// copyBinary copies a real binary so a test can modify the copy.
func copyBinary(t testing.TB, name string) string {
	t.Helper()
	src, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := copyFile(src, dst); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestTamperedInstallerRefused(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	dpkg := copyBinary(t, "dpkg")
	pins, err := PinTools(Tools{Dpkg: dpkg})
	if err != nil {
		t.Fatal(err)
	}
	// The attacker appends to the binary after it was pinned.
	f, err := os.OpenFile(dpkg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("trojan"))
	f.Close()
	var alerts []Alert
	tm := newTestManager(t, root, func(c *Config) {
		c.Tools.Dpkg = dpkg
		c.ToolPins = pins
		c.OnAlert = func(a Alert) { alerts = append(alerts, a) }
	})
	tx, err := tm.install(t, helloDeb(t, "1.0", ""), Plan{Method: "dpkg"})
	var tampered *TamperedToolError
	if !errors.As(err, &tampered) || !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("error %v, want a TamperedToolError matching trust.ErrUntrusted", err)
	}
	if tampered.Path != dpkg || tampered.Expected != pins[dpkg] || tampered.Expected == tampered.Actual {
		t.Errorf("error names %+v, want path %s and both digests", tampered, dpkg)
	}
	for _, want := range []string{dpkg, pins[dpkg]} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %q", err, want)
		}
	}
	if len(alerts) != 1 || alerts[0].Kind != AlertTamperedTool {
		t.Errorf("alerts raised: %+v", alerts)
	}
	if len(tx.Alerts) != 1 || tx.State != StateFailed {
		t.Errorf("journal: state %s, alerts %+v", tx.State, tx.Alerts)
	}
	if got := dpkgState(t, root, "pn-hello"); got != "absent" {
		t.Errorf("the package was installed by a tampered dpkg: %s", got)
	}
	if strings.Contains(tx.Log, "$ "+dpkg) {
		t.Errorf("the tampered binary ran:\n%s", tx.Log)
	}
}

func TestPinnedToolsRun(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	pins, err := PinTools(Tools{})
	if err != nil {
		t.Fatal(err)
	}
	tm := newTestManager(t, root, func(c *Config) { c.ToolPins = pins; c.RequireToolPins = true })
	tx := tm.mustInstall(t, helloDeb(t, "1.0", ""), Plan{Method: "dpkg"})
	for _, use := range tx.Tools {
		if !use.Pinned || use.SHA256 != pins[use.Path] {
			t.Errorf("tool use %+v not checked against its pin", use)
		}
	}
	if len(tx.Tools) < 2 {
		t.Errorf("journal records %d tools, want dpkg, dpkg-deb and dpkg-query", len(tx.Tools))
	}
}

func TestUnpinnedToolRefusedWhenPinsRequired(t *testing.T) {
	t.Parallel()
	tm := newTestManager(t, newDpkgRoot(t), func(c *Config) { c.RequireToolPins = true })
	_, err := tm.install(t, helloDeb(t, "1.0", ""), Plan{Method: "dpkg"})
	var unpinned *UnpinnedToolError
	if !errors.As(err, &unpinned) {
		t.Fatalf("error %v, want UnpinnedToolError", err)
	}
}

func TestApkArguments(t *testing.T) {
	cases := []struct {
		root, action string
		want         []string
	}{
		{"/", "add", []string{"--no-network", "--no-progress", "add", "--allow-untrusted", "--", "x.apk"}},
		{"/sandbox", "add", []string{"--no-network", "--no-progress", "--root", "/sandbox", "add", "--allow-untrusted", "--", "x.apk"}},
		{"/sandbox", "del", []string{"--no-network", "--no-progress", "--root", "/sandbox", "del", "--", "x.apk"}},
	}
	for _, c := range cases {
		got := Apk{}.args(&Env{Root: c.root}, c.action, "x.apk")
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("root %s %s (-want +got):\n%s", c.root, c.action, diff)
		}
	}
}

func TestApkInstallRefusedWithoutApk(t *testing.T) {
	if _, err := exec.LookPath("apk"); err == nil {
		t.Skip("apk is installed; TestApkRealInstall covers it")
	}
	tm := newTestManager(t, t.TempDir(), nil)
	path := filepath.Join(t.TempDir(), "pn-hello-1.0-r0.apk")
	os.WriteFile(path, tarGzBytes(t, []entry{{name: ".PKGINFO", body: "pkgname = pn-hello\npkgver = 1.0-r0\n"}}), 0o644)
	tx, err := tm.install(t, path, Plan{Method: "apk"})
	if err == nil || !strings.Contains(err.Error(), "apk") {
		t.Fatalf("error %v, want one naming the missing apk", err)
	}
	art, err := VerifyArtifact(path, t.TempDir(), expectOf(t, path))
	if err != nil {
		t.Fatal(err)
	}
	goal, err := Apk{}.Describe(context.Background(), nil, art)
	if err != nil || goal.Package != "pn-hello" || goal.Version != "1.0-r0" {
		t.Errorf("goal read from .PKGINFO: %+v, %v", goal, err)
	}
	if tx.State != StateFailed {
		t.Errorf("state %s, want failed", tx.State)
	}
}

func TestApkRealInstall(t *testing.T) {
	t.Skip("apk-tools is not packaged for this Debian machine; the apk installer is tested by argument construction (TestApkArguments), .PKGINFO parsing (FuzzReadPKGINFO) and the database reader (TestApkInstalledDB)")
}

func TestApkInstalledDB(t *testing.T) {
	db := "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nP:pn-hello\nV:1.0-r0\nA:noarch\n"
	for pkg, want := range map[string]string{"musl": "1.2.4-r2", "pn-hello": "1.0-r0", "absent": ""} {
		got, err := findApkVersion(strings.NewReader(db), pkg)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", pkg, got, err, want)
		}
	}
}

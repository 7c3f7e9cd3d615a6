package install

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pkgSpec describes a test package built with the real packaging tools.
type pkgSpec struct {
	name, version, depends string
	// files maps a path under the root to its content.
	files map[string]string
}

// buildDeb builds a real .deb with dpkg-deb --build.
func buildDeb(t testing.TB, p pkgSpec) string {
	t.Helper()
	needTool(t, "dpkg-deb")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: patchnet tests <tests@patchnet.invalid>\n", p.name, p.version)
	if p.depends != "" {
		control += "Depends: " + p.depends + "\n"
	}
	control += "Description: patchnet test package\n"
	writeFile(t, filepath.Join(tree, "DEBIAN", "control"), control)
	for path, content := range p.files {
		writeFile(t, filepath.Join(tree, path), content)
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", p.name, p.version))
	run(t, "dpkg-deb", "--root-owner-group", "--build", tree, out)
	return out
}

// newDpkgRoot makes an empty sandbox root with a dpkg database.
func newDpkgRoot(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"), "")
	return root
}

// dpkgState is what dpkg-query says about pkg in root: "installed 1.0",
// "unpacked 3.0", or "absent".
func dpkgState(t testing.TB, root, pkg string) string {
	t.Helper()
	cmd := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "--show",
		"--showformat=${db:Status-Status} ${Version}", pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "no packages found") {
			return "absent"
		}
		t.Fatalf("dpkg-query: %v: %s", err, out)
	}
	if strings.HasPrefix(string(out), "not-installed") || strings.HasPrefix(string(out), "config-files") {
		return "absent"
	}
	return strings.TrimSpace(string(out))
}

// buildRPM builds a real noarch .rpm with rpmbuild.
func buildRPM(t testing.TB, p pkgSpec) string {
	t.Helper()
	needTool(t, "rpmbuild")
	top := t.TempDir()
	var install, files strings.Builder
	for path, content := range p.files {
		fmt.Fprintf(&install, "mkdir -p %%{buildroot}%s\nprintf '%%s' '%s' > %%{buildroot}%s\n", filepath.Dir(path), content, path)
		fmt.Fprintf(&files, "%s\n", path)
	}
	ver, rel, _ := strings.Cut(p.version, "-")
	spec := fmt.Sprintf("Name: %s\nVersion: %s\nRelease: %s\nSummary: patchnet test\nLicense: MIT\nBuildArch: noarch\n", p.name, ver, rel)
	if p.depends != "" {
		spec += "Requires: " + p.depends + "\n"
	}
	spec += "%description\npatchnet test package\n%install\n" + install.String() + "%files\n" + files.String()
	specPath := filepath.Join(top, p.name+".spec")
	writeFile(t, specPath, spec)
	run(t, "rpmbuild", "--define", "_topdir "+top, "--define", "_build_id_links none", "-bb", specPath)
	out := filepath.Join(top, "RPMS", "noarch", fmt.Sprintf("%s-%s.noarch.rpm", p.name, p.version))
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("rpmbuild did not write %s: %v", out, err)
	}
	return out
}

// newRPMRoot makes a sandbox root with an initialised rpm database.
func newRPMRoot(t testing.TB) string {
	t.Helper()
	needTool(t, "rpm")
	root := t.TempDir()
	run(t, "rpm", "--root", root, "--dbpath", DefaultRPMDBPath, "--initdb")
	return root
}

// rpmState is "1.0-1" or "absent".
func rpmState(t testing.TB, root, pkg string) string {
	t.Helper()
	out, err := exec.Command("rpm", "--root", root, "--dbpath", DefaultRPMDBPath, "-q", "--qf", "%{VERSION}-%{RELEASE}", pkg).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "is not installed") {
			return "absent"
		}
		t.Fatalf("rpm -q: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// needTool skips when a packaging tool is missing, saying which.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (the Makefile's APT_DEPS installs it)", name)
	}
}

// run runs a command and fails the test with its output.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeFile writes content, creating directories.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFile returns a file's content or "<missing>".
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "<missing>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectOf is the honest Expect of a file.
func expectOf(t testing.TB, path string) Expect {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Expect{Name: filepath.Base(path), Size: int64(len(b)), SHA256: sha256.Sum256(b)}
}

// testManager is a Manager on a badger journal in a temp state dir.
type testManager struct {
	*Manager
	state, root string
}

// newTestManager opens a Manager for root with a fresh state dir.
func newTestManager(t testing.TB, root string, tweak func(*Config)) *testManager {
	t.Helper()
	return openTestManager(t, t.TempDir(), root, tweak)
}

// openTestManager opens (and recovers) the journal in state.
func openTestManager(t testing.TB, state, root string, tweak func(*Config)) *testManager {
	t.Helper()
	cfg := DefaultConfig(state)
	cfg.Root = root
	if tweak != nil {
		tweak(&cfg)
	}
	m, _, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &testManager{Manager: m, state: state, root: root}
}

// install verifies a file and installs it with plan.
func (tm *testManager) install(t testing.TB, path string, plan Plan) (*Transaction, error) {
	t.Helper()
	art, err := tm.VerifyArtifact(path, expectOf(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if plan.AnnouncementID == "" {
		plan.AnnouncementID = "PNT-TEST-1"
		plan.AnnouncementVersion = uint64(time.Now().UnixNano())
	}
	return tm.InstallVerified(context.Background(), art, plan)
}

// mustInstall installs and requires a committed transaction.
func (tm *testManager) mustInstall(t testing.TB, path string, plan Plan) *Transaction {
	t.Helper()
	tx, err := tm.install(t, path, plan)
	if err != nil {
		t.Fatalf("installing %s: %v\nlog:\n%s", filepath.Base(path), err, tx.Log)
	}
	if tx.State != StateCommitted {
		t.Fatalf("transaction %s is %s, want committed", tx.ID, tx.State)
	}
	return tx
}

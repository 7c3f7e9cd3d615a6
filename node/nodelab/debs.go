package nodelab

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/patchnet/patchnet/updates/install"
)

// PackageName is the package the lab installs and updates.
const PackageName = "hello-patchnet"

// Package versions: every agent starts at OldVersion; the fix is NewVersion.
const (
	OldVersion = "1.0-1"
	NewVersion = "2.0-1"
)

// osRelease makes a sandbox root a Debian 12 host for sysinfo.
const osRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

// buildDeb builds PackageName at version with dpkg-deb into dir.
func buildDeb(ctx context.Context, dir, version string) (string, error) {
	tree := filepath.Join(dir, "tree-"+version)
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: patchnet demo <demo@patchnet.invalid>\n"+
		"Description: greets the patchnet demo\n", PackageName, version)
	files := map[string]string{
		"DEBIAN/control":                      control,
		"usr/share/hello-patchnet/greeting":   "hello from " + version + "\n",
		"usr/share/doc/hello-patchnet/README": "A package the patchnet demo updates.\n",
	}
	for name, body := range files {
		if err := writeFile(filepath.Join(tree, name), body); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", PackageName, version))
	if b, err := exec.CommandContext(ctx, "dpkg-deb", "--root-owner-group", "--build", tree, out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s with dpkg-deb: %w: %s", filepath.Base(out), err, b)
	}
	return out, nil
}

// makeSandbox makes root an empty Debian 12 system with a dpkg database.
func makeSandbox(root string) error {
	if err := writeFile(filepath.Join(root, "etc/os-release"), osRelease); err != nil {
		return err
	}
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg", d), 0o755); err != nil {
			return fmt.Errorf("creating the dpkg database: %w", err)
		}
	}
	return writeFile(filepath.Join(root, "var/lib/dpkg/status"), "")
}

// installOld installs deb into root with patchnet's installer, as an earlier
// update would have, so the agent's journal holds it for rollback.
func installOld(ctx context.Context, state, root, deb string) error {
	cfg := install.DefaultConfig(state)
	cfg.Root = root
	m, _, err := install.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	b, err := os.ReadFile(deb)
	if err != nil {
		return err
	}
	art, err := m.VerifyArtifact(deb, install.Expect{Name: filepath.Base(deb), Size: int64(len(b)), SHA256: sha256.Sum256(b)})
	if err != nil {
		return err
	}
	_, err = m.InstallVerified(ctx, art, install.Plan{Method: "dpkg", AnnouncementID: "LAB-BASE", AnnouncementVersion: 1,
		Summary: "base install of " + PackageName + " " + OldVersion})
	return err
}

// InstalledVersion asks dpkg-query which version of PackageName root has;
// "" when it is not installed.
func InstalledVersion(ctx context.Context, root string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"),
		"-W", "-f=${Status}|${Version}", PackageName).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "no packages found") {
			return "", nil
		}
		return "", fmt.Errorf("dpkg-query in %s: %w: %s", root, err, out)
	}
	status, version, _ := strings.Cut(string(out), "|")
	if !strings.HasSuffix(status, " installed") {
		return "", nil
	}
	return version, nil
}

func writeFile(path, body string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

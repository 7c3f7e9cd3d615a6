package nodelab

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/sysinfo"
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

// dpkgStatus is a root's dpkg status file, which dpkg, dpkg-query and
// sysinfo all read.
const dpkgStatus = "var/lib/dpkg/status"

// Deb is a Debian binary package by its control fields: what the lab
// builds, and what a RecordingInstaller writes into the dpkg status when it
// installs one.
type Deb struct {
	Package, Version, Architecture, Maintainer, Description string
	// Padding is bytes of incompressible filler the package installs
	// (usr/share/<package>/padding), so its artifact has about a chosen
	// size (Options.ArtifactBytes); 0: none.
	Padding int
}

// labDeb is PackageName at version.
func labDeb(version string) Deb {
	return Deb{Package: PackageName, Version: version, Architecture: "all",
		Maintainer: "patchnet demo <demo@patchnet.invalid>", Description: "greets the patchnet demo"}
}

// control is d's DEBIAN/control file.
func (d Deb) control() string {
	return fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nDescription: %s\n",
		d.Package, d.Version, d.Architecture, d.Maintainer, d.Description)
}

// statusStanza is d's stanza in a dpkg status file once installed, its
// fields in the order dpkg 1.21 writes them.
func (d Deb) statusStanza() string {
	return fmt.Sprintf("Package: %s\nStatus: install ok installed\nMaintainer: %s\nArchitecture: %s\nVersion: %s\nDescription: %s\n",
		d.Package, d.Maintainer, d.Architecture, d.Version, d.Description)
}

// files are what d installs, by path under the root.
func (d Deb) files() map[string]string {
	files := map[string]string{
		"usr/share/" + d.Package + "/greeting":   "hello from " + d.Version + "\n",
		"usr/share/doc/" + d.Package + "/README": "A package the patchnet demo updates.\n",
	}
	if d.Padding > 0 {
		// Seeded by the version: the same package every build, and no
		// compressor shrinks it.
		pad := make([]byte, d.Padding)
		var seed [32]byte
		copy(seed[:], d.Version)
		rand.NewChaCha8(seed).Read(pad)
		files["usr/share/"+d.Package+"/padding"] = string(pad)
	}
	return files
}

// fileName is the .deb's conventional name.
func (d Deb) fileName() string {
	return fmt.Sprintf("%s_%s_%s.deb", d.Package, d.Version, d.Architecture)
}

// buildDeb builds d into dir: with dpkg-deb when withDpkgDeb, else with
// writeDeb.
func buildDeb(ctx context.Context, dir string, d Deb, withDpkgDeb bool) (string, error) {
	out := filepath.Join(dir, d.fileName())
	if !withDpkgDeb {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("creating %s: %w", dir, err)
		}
		return out, writeDeb(out, d)
	}
	tree := filepath.Join(dir, "tree-"+d.Version)
	files := d.files()
	files["DEBIAN/control"] = d.control()
	for name, body := range files {
		if err := writeFile(filepath.Join(tree, name), body); err != nil {
			return "", err
		}
	}
	if b, err := exec.CommandContext(ctx, "dpkg-deb", "--root-owner-group", "--build", tree, out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s with dpkg-deb: %w: %s", filepath.Base(out), err, b)
	}
	return out, nil
}

// debTime is the modification time of every member and file of a .deb
// writeDeb makes, so that it makes the same bytes every time.
var debTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// writeDeb writes d as a .deb without dpkg-deb, for hosts that have none:
// the format dpkg-deb writes (an ar archive of debian-binary,
// control.tar.gz and data.tar.gz, files owned by root), which dpkg
// installs like any other, and the same bytes on every run.
func writeDeb(path string, d Deb) error {
	control, err := tarGz(map[string]string{"control": d.control()})
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	data, err := tarGz(d.files())
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", control}, {"data.tar.gz", data}} {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, debTime.Unix(), 0, 0, "100644", len(m.body))
		b.Write(m.body)
		if len(m.body)%2 == 1 {
			b.WriteByte('\n') // ar members start at even offsets
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// tarGz is a gzipped tar of files (by path, relative) under "./", each
// directory before what it holds, all owned by root.
func tarGz(files map[string]string) ([]byte, error) {
	entries := map[string]bool{"./": true}
	for name := range files {
		for dir := filepath.Dir(name); dir != "."; dir = filepath.Dir(dir) {
			entries["./"+dir+"/"] = true
		}
		entries["./"+name] = true
	}
	names := slices.Sorted(maps.Keys(entries)) // a directory sorts before what it holds
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range names {
		h := &tar.Header{Name: name, ModTime: debTime, Uname: "root", Gname: "root", Format: tar.FormatGNU}
		body, isFile := files[strings.TrimPrefix(name, "./")]
		if isFile {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(body))
		} else {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("archiving %s: %w", name, err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, fmt.Errorf("archiving %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("archiving: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("compressing: %w", err)
	}
	return buf.Bytes(), nil
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
	return writeFile(filepath.Join(root, dpkgStatus), "")
}

// installOld installs deb into an agent's root with in, the installer its
// node opens later, as an earlier update would have: the real one's
// journal then holds it for rollback, and either's history starts with it.
func installOld(ctx context.Context, in node.Installer, deb string) error {
	sum, size, err := DigestFile(deb)
	if err != nil {
		return err
	}
	art, err := in.VerifyArtifact(deb, install.Expect{Name: filepath.Base(deb), Size: size, SHA256: sum})
	if err != nil {
		return err
	}
	_, err = in.InstallVerified(ctx, art, install.Plan{Method: "dpkg", AnnouncementID: BaseInstall, AnnouncementVersion: 1,
		Summary: "base install of " + PackageName + " " + OldVersion})
	return err
}

// BaseInstall is the announcement ID the journal records for a sandbox's
// install of its old package (MakeSandbox, a member's OldVersion): the
// lab's set-up, not an update.
const BaseInstall = "LAB-BASE"

// InstalledVersion is the version of PackageName installed in root, ""
// when it is not: as dpkg-query reports it when it is on PATH, else as
// root's dpkg status file says (what sysinfo reads too). Both read the
// status file, so with a RecordingInstaller on a host with dpkg, dpkg-query
// also checks the stanza the recorder wrote.
func InstalledVersion(ctx context.Context, root string) (string, error) {
	return InstalledVersionOf(ctx, root, PackageName)
}

// InstalledVersionOf is InstalledVersion for package pkg.
func InstalledVersionOf(ctx context.Context, root, pkg string) (string, error) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return statusVersion(root, pkg)
	}
	out, err := exec.CommandContext(ctx, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"),
		"-W", "-f=${Status}|${Version}", pkg).CombinedOutput()
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

// statusVersion reads the installed version of pkg from root's dpkg
// status file; "" when it is not installed.
func statusVersion(root, pkg string) (string, error) {
	f, err := os.Open(filepath.Join(root, dpkgStatus))
	if err != nil {
		return "", fmt.Errorf("reading the dpkg status of %s: %w", root, err)
	}
	defer f.Close()
	pkgs, err := sysinfo.ParseDpkgStatus(f)
	if err != nil {
		return "", fmt.Errorf("reading the dpkg status of %s: %w", root, err)
	}
	for _, p := range pkgs {
		if p.Name == pkg {
			return p.Version, nil
		}
	}
	return "", nil
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

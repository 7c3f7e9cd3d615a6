package nodelab

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
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

// files are what d installs but its padding, by path under the root.
func (d Deb) files() map[string]string {
	return map[string]string{
		"usr/share/" + d.Package + "/greeting":   "hello from " + d.Version + "\n",
		"usr/share/doc/" + d.Package + "/README": "A package the patchnet demo updates.\n",
	}
}

// paddingPath is where d installs its padding, under the root.
func (d Deb) paddingPath() string { return "usr/share/" + d.Package + "/padding" }

// padding streams d's Padding bytes of filler. Seeded by the version: the
// same package every build, and no compressor shrinks it.
func (d Deb) padding() io.Reader {
	var seed [32]byte
	copy(seed[:], d.Version)
	return io.LimitReader(rand.NewChaCha8(seed), int64(d.Padding))
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
	if d.Padding > 0 {
		if err := writeFileFrom(filepath.Join(tree, d.paddingPath()), d.padding()); err != nil {
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
// installs like any other, and the same bytes on every run. The padding
// is streamed (data.tar.gz through a scratch file beside path, as an ar
// member's size comes first), so memory does not grow with it; path
// appears whole or not at all.
func writeDeb(path string, d Deb) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("writing %s: %w", filepath.Base(path), err)
		}
	}()
	var control bytes.Buffer
	if err := writeTarGz(&control, map[string]string{"control": d.control()}, "", nil); err != nil {
		return err
	}
	data, err := os.CreateTemp(filepath.Dir(path), ".data-*.tar.gz")
	if err != nil {
		return err
	}
	defer os.Remove(data.Name())
	defer data.Close()
	if d.Padding > 0 {
		err = writeTarGz(data, d.files(), d.paddingPath(), &sized{d.padding(), int64(d.Padding)})
	} else {
		err = writeTarGz(data, d.files(), "", nil)
	}
	if err != nil {
		return err
	}
	size, err := data.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := data.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return writeAr(path, []arEntry{{"debian-binary", sized{strings.NewReader("2.0\n"), 4}},
		{"control.tar.gz", sized{&control, int64(control.Len())}}, {"data.tar.gz", sized{data, size}}})
}

// arEntry is one member of an ar archive: its name and body.
type arEntry struct {
	name string
	body sized
}

// writeAr writes an ar archive of members to path through a scratch file
// renamed into place: path appears whole or not at all.
func writeAr(path string, members []arEntry) error {
	tmp := path + ".part"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // once renamed, nothing is there
	w := bufio.NewWriter(out)
	w.WriteString("!<arch>\n")
	for _, m := range members {
		if err := writeArMember(w, m.name, m.body); err != nil {
			out.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// sized is a reader of size bytes.
type sized struct {
	r    io.Reader
	size int64
}

// writeArMember writes one member of an ar archive: its header, its body, and
// a newline when the body's length is odd (members start at even offsets).
func writeArMember(w io.Writer, name string, m sized) error {
	if _, err := fmt.Fprintf(w, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, debTime.Unix(), 0, 0, "100644", m.size); err != nil {
		return err
	}
	if n, err := io.Copy(w, m.r); err != nil || n != m.size {
		return fmt.Errorf("archiving %s: %d of %d bytes: %v", name, n, m.size, err)
	}
	if m.size%2 == 1 {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// writeTarGz writes a gzipped tar of files (by path, relative) and, when
// bigName is not "", of big at bigName, under "./", each directory before
// what it holds, all owned by root.
func writeTarGz(w io.Writer, files map[string]string, bigName string, big *sized) error {
	entries := map[string]bool{"./": true}
	names := slices.Collect(maps.Keys(files))
	if bigName != "" {
		names = append(names, bigName)
	}
	for _, name := range names {
		for dir := filepath.Dir(name); dir != "."; dir = filepath.Dir(dir) {
			entries["./"+dir+"/"] = true
		}
		entries["./"+name] = true
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, name := range slices.Sorted(maps.Keys(entries)) { // a directory sorts before what it holds
		h := &tar.Header{Name: name, ModTime: debTime, Uname: "root", Gname: "root", Format: tar.FormatGNU, Typeflag: tar.TypeDir, Mode: 0o755}
		var body io.Reader
		switch rel := strings.TrimPrefix(name, "./"); {
		case rel == bigName && big != nil:
			h.Typeflag, h.Mode, h.Size, body = tar.TypeReg, 0o644, big.size, big.r
		case !strings.HasSuffix(name, "/"):
			h.Typeflag, h.Mode, h.Size, body = tar.TypeReg, 0o644, int64(len(files[rel])), strings.NewReader(files[rel])
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("archiving %s: %w", name, err)
		}
		if body != nil {
			if _, err := io.Copy(tw, body); err != nil {
				return fmt.Errorf("archiving %s: %w", name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("archiving: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("compressing: %w", err)
	}
	return nil
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

// writeFileFrom writes what r yields to path, making its directory.
func writeFileFrom(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
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

package netns

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/patchnet/patchnet/updates/install"
)

// pkg is a package to build: name, version ("UPSTREAM-REVISION") and the
// size the built file should have.
type pkg struct {
	name, version string
	bytes         int64
}

// sized builds with payloads of random bytes (incompressible, so the
// size holds whatever the format compresses) until the file is within
// one tar block of want: build(payload) returns the file it made. Sizes
// up to smallPackage are not adjusted: a package's own overhead is that.
func sized(want int64, build func(payload int64) (string, error)) (string, error) {
	if want <= smallPackage {
		return build(1)
	}
	payload := max(want-4096, 1)
	for range 3 {
		path, err := build(payload)
		if err != nil {
			return "", err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return "", err
		}
		diff := want - fi.Size()
		if diff > -512 && diff < 512 {
			return path, nil
		}
		payload = max(payload+diff, 1)
	}
	return "", fmt.Errorf("building a %d-byte package: the size does not settle", want)
}

// randomFile writes n random bytes to path.
func randomFile(path string, n int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// buildDeb builds p as a real .deb with dpkg-deb into dir: a random
// payload file under /usr/lib/NAME, data gzipped fast (random bytes
// do not shrink, and the tar padding that would round the size to 10 KiB
// does).
func buildDeb(ctx context.Context, dir string, p pkg) (string, error) {
	return sized(p.bytes, func(payload int64) (string, error) {
		tree := filepath.Join(dir, "tree-"+p.name+"-"+p.version)
		os.RemoveAll(tree)
		if err := randomFile(filepath.Join(tree, "usr/lib", p.name, "payload"), payload); err != nil {
			return "", err
		}
		control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: patchnet testnet <testnet@patchnet.invalid>\nDescription: %s for the table2 scenario\n",
			p.name, p.version, p.name)
		if err := os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(tree, "DEBIAN/control"), []byte(control), 0o644); err != nil {
			return "", err
		}
		out := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", p.name, p.version))
		if b, err := exec.CommandContext(ctx, "dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "--build", tree, out).CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s with dpkg-deb: %w: %s", filepath.Base(out), err, b)
		}
		return out, nil
	})
}

// buildRPM builds p as a real noarch .rpm with rpmbuild into dir: a random
// payload file under /usr/lib/NAME, the payload uncompressed.
func buildRPM(ctx context.Context, dir string, p pkg) (string, error) {
	ver, rel, _ := strings.Cut(p.version, "-")
	top := filepath.Join(dir, "rpmbuild-"+p.name+"-"+p.version)
	return sized(p.bytes, func(payload int64) (string, error) {
		src := filepath.Join(top, "SOURCES", "payload")
		if err := randomFile(src, payload); err != nil {
			return "", err
		}
		spec := fmt.Sprintf(`Name: %s
Version: %s
Release: %s
Summary: %s for the table2 scenario
License: MIT
BuildArch: noarch
%%description
%s for the table2 scenario
%%install
mkdir -p %%{buildroot}/usr/lib/%s
cp %s %%{buildroot}/usr/lib/%s/payload
%%files
/usr/lib/%s/payload
`, p.name, ver, rel, p.name, p.name, p.name, src, p.name, p.name)
		specPath := filepath.Join(top, p.name+".spec")
		if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
			return "", err
		}
		b, err := exec.CommandContext(ctx, "rpmbuild", "--define", "_topdir "+top, "--define", "_build_id_links none",
			"--define", "_binary_payload w0.ufdio", "--define", "__os_install_post %{nil}", "-bb", specPath).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("building %s with rpmbuild: %w: %s", p.name, err, b)
		}
		out := filepath.Join(top, "RPMS", "noarch", fmt.Sprintf("%s-%s.noarch.rpm", p.name, p.version))
		if _, err := os.Stat(out); err != nil {
			return "", fmt.Errorf("rpmbuild did not write %s: %w", out, err)
		}
		return out, nil
	})
}

// buildArchive builds p as a .tar.gz of one random file, the custom
// update an archive install unpacks into its prefix.
func buildArchive(dir string, p pkg) (string, error) {
	out := filepath.Join(dir, fmt.Sprintf("%s-%s.tar.gz", p.name, p.version))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return sized(p.bytes, func(payload int64) (string, error) {
		f, err := os.Create(out)
		if err != nil {
			return "", err
		}
		defer f.Close()
		gz := gzip.NewWriter(f)
		tw := tar.NewWriter(gz)
		if err := tw.WriteHeader(&tar.Header{Name: "payload", Mode: 0o644, Size: payload, Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := io.CopyN(tw, rand.Reader, payload); err != nil {
			return "", err
		}
		if err := tw.Close(); err != nil {
			return "", err
		}
		if err := gz.Close(); err != nil {
			return "", err
		}
		return out, f.Close()
	})
}

// rhelRelease makes a root a Red Hat Enterprise Linux 9 host for sysinfo.
const rhelRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
`

// makeRPMRoot makes a Red Hat root at root with an rpm database holding
// old.
func makeRPMRoot(ctx context.Context, root, old string) error {
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "etc/os-release"), []byte(rhelRelease), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"--initdb"}, {"--install", "--nodeps", old}} {
		full := append([]string{"--root", root, "--dbpath", install.DefaultRPMDBPath}, args...)
		if b, err := exec.CommandContext(ctx, "rpm", full...).CombinedOutput(); err != nil {
			return fmt.Errorf("making the rpm root: rpm %s: %w: %s", strings.Join(full, " "), err, b)
		}
	}
	return nil
}

package install

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Apk installs Alpine .apk files with apk-tools. With a sandbox Root it
// passes --root. The artifact's digest was checked against the signed
// announcement, so apk's own signature check is skipped with
// --allow-untrusted (hosts need not hold the vendor's apk keys); --no-network
// keeps apk from fetching anything, so dependencies must already be there
// or the install fails cleanly.
type Apk struct{}

// Method is "apk".
func (Apk) Method() string { return "apk" }

// Tools is apk.
func (Apk) Tools() []string { return []string{"apk"} }

// apkInstalledDB is apk's database of installed packages, inside Root.
const apkInstalledDB = "lib/apk/db/installed"

// args builds an apk command line for env.Root.
func (Apk) args(env *Env, action string, rest ...string) []string {
	args := []string{"--no-network", "--no-progress"}
	if !isSystemRoot(env.Root) {
		args = append(args, "--root", env.Root)
	}
	args = append(args, action)
	if action == "add" {
		args = append(args, "--allow-untrusted")
	}
	return append(append(args, "--"), rest...)
}

// Describe reads pkgname and pkgver from the .apk's .PKGINFO.
func (Apk) Describe(_ context.Context, _ *Env, art VerifiedArtifact) (Goal, error) {
	f, err := os.Open(art.Path())
	if err != nil {
		return Goal{}, fmt.Errorf("reading .PKGINFO: %w", err)
	}
	defer f.Close()
	name, version, err := ReadPKGINFO(f)
	if err != nil {
		return Goal{}, fmt.Errorf("reading .PKGINFO of %s: %w", art.Name(), err)
	}
	return Goal{Package: name, Version: version}, nil
}

// ReadPKGINFO returns pkgname and pkgver from an apk v2 package: gzip
// streams of tar segments, one of which holds .PKGINFO.
func ReadPKGINFO(r io.Reader) (name, version string, err error) {
	zr, err := gzip.NewReader(io.LimitReader(r, MaxArchiveBytes))
	if err != nil {
		return "", "", fmt.Errorf("not a gzip stream: %w", err)
	}
	tr := tar.NewReader(zr)
	for i := 0; i < MaxArchiveEntries; i++ {
		hdr, err := tr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", "", fmt.Errorf("reading tar: %w", err)
		}
		if hdr.Name == ".PKGINFO" {
			return parsePKGINFO(io.LimitReader(tr, MaxToolOutput))
		}
	}
	return "", "", errors.New("no .PKGINFO entry")
}

// parsePKGINFO reads "key = value" lines.
func parsePKGINFO(r io.Reader) (name, version string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " = ")
		switch {
		case !ok:
		case k == "pkgname":
			name = v
		case k == "pkgver":
			version = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("reading .PKGINFO: %w", err)
	}
	if err := checkPackageField("pkgname", name); err != nil {
		return "", "", err
	}
	if err := checkPackageField("pkgver", version); err != nil {
		return "", "", err
	}
	return name, version, nil
}

// installedVersion reads pkg's version from apk's installed database ("P:"
// and "V:" lines in blank-line separated stanzas); "" when not installed.
func (Apk) installedVersion(env *Env, pkg string) (string, error) {
	root := env.Root
	if root == "" {
		root = "/"
	}
	f, err := os.Open(filepath.Join(root, apkInstalledDB))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading apk database: %w", err)
	}
	defer f.Close()
	return findApkVersion(f, pkg)
}

// findApkVersion scans an apk installed database for pkg.
func findApkVersion(r io.Reader, pkg string) (string, error) {
	sc := bufio.NewScanner(r)
	var name, version string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if name == pkg {
				return version, nil
			}
			name, version = "", ""
		case strings.HasPrefix(line, "P:"):
			name = line[2:]
		case strings.HasPrefix(line, "V:"):
			version = line[2:]
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading apk database: %w", err)
	}
	if name == pkg {
		return version, nil
	}
	return "", nil
}

// Snapshot keeps the installed version's .apk if patchnet kept it.
func (a Apk) Snapshot(_ context.Context, env *Env, goal Goal) (Before, error) {
	version, err := a.installedVersion(env, goal.Package)
	if err != nil {
		return Before{}, err
	}
	if version == "" {
		return Before{Kind: BeforeAbsent, Package: goal.Package, Note: "not installed before"}, nil
	}
	if b, ok, err := keptPackage(env, a.Method(), goal.Package, version); ok || err != nil {
		return b, err
	}
	return Before{Kind: BeforeNone, Package: goal.Package, Version: version,
		Note: fmt.Sprintf("%s %s was not installed by patchnet and apk cannot rebuild it", goal.Package, version)}, nil
}

// Install runs apk add on the file.
func (a Apk) Install(ctx context.Context, env *Env, art VerifiedArtifact, _ Goal) error {
	if art.IsZero() {
		return errNotVerified
	}
	if _, err := env.run.run(ctx, runSpec{tool: "apk", args: a.args(env, "add", art.Path())}); err != nil {
		return fmt.Errorf("installing %s: %w", art.Name(), err)
	}
	return nil
}

// Restore re-adds the kept .apk or deletes a package that was not there.
func (a Apk) Restore(ctx context.Context, env *Env, before Before) error {
	switch before.Kind {
	case BeforeAbsent:
		_, err := env.run.run(ctx, runSpec{tool: "apk", args: a.args(env, "del", before.Package)})
		return wrapRestore(before, err)
	case BeforePackage:
		art, err := reverifyKept(before.Path, before.SHA256)
		if err != nil {
			return wrapRestore(before, err)
		}
		return wrapRestore(before, a.Install(ctx, env, art, before.Goal()))
	default:
		return fmt.Errorf("restoring: %w", errNoBeforeState(before))
	}
}

// Reached reads apk's database.
func (a Apk) Reached(_ context.Context, env *Env, goal Goal) (bool, error) {
	version, err := a.installedVersion(env, goal.Package)
	if err != nil {
		return false, err
	}
	if goal.Absent {
		return version == "", nil
	}
	return version == goal.Version, nil
}

package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Dpkg installs .deb files with dpkg. With a sandbox Root it passes
// --root (dpkg then uses ROOT/var/lib/dpkg and runs maintainer scripts
// chrooted into ROOT), so tests install real packages into temporary
// directories and never into the machine.
type Dpkg struct{}

// Method is "dpkg".
func (Dpkg) Method() string { return "dpkg" }

// Tools are dpkg, dpkg-deb and dpkg-query; dpkg-repack is optional.
func (Dpkg) Tools() []string { return []string{"dpkg", "dpkg-deb", "dpkg-query"} }

// rootArgs are the arguments that aim dpkg at env.Root. The log goes to the
// transaction's keep directory for a sandbox, so tests leave the host's
// /var/log/dpkg.log alone.
func (Dpkg) rootArgs(env *Env) []string {
	if isSystemRoot(env.Root) {
		return nil
	}
	return []string{"--root=" + env.Root, "--log=" + filepath.Join(env.KeepDir, "dpkg.log")}
}

// admindir is dpkg-query's database argument.
func (Dpkg) admindir(env *Env) []string {
	if isSystemRoot(env.Root) {
		return nil
	}
	return []string{"--admindir=" + filepath.Join(env.Root, "var/lib/dpkg")}
}

// Describe reads Package and Version from the .deb's control file.
func (d Dpkg) Describe(ctx context.Context, env *Env, art VerifiedArtifact) (Goal, error) {
	out, err := env.run.run(ctx, runSpec{tool: "dpkg-deb", args: []string{"--field", art.Path(), "Package", "Version"}})
	if err != nil {
		return Goal{}, fmt.Errorf("reading .deb control fields: %w", err)
	}
	fields := parseControlFields(out)
	g := Goal{Package: fields["Package"], Version: fields["Version"]}
	if err := checkPackageField("Package", g.Package); err != nil {
		return Goal{}, fmt.Errorf("reading .deb control fields of %s: %w", art.Name(), err)
	}
	if err := checkPackageField("Version", g.Version); err != nil {
		return Goal{}, fmt.Errorf("reading .deb control fields of %s: %w", art.Name(), err)
	}
	return g, nil
}

// status returns dpkg's db:Status-Status and version of pkg; "not-installed"
// when dpkg has never heard of it.
func (d Dpkg) status(ctx context.Context, env *Env, pkg string) (status, version string, err error) {
	args := append(d.admindir(env), "--show", "--showformat=${db:Status-Status}\t${Version}\n", "--", pkg)
	out, err := env.run.run(ctx, runSpec{tool: "dpkg-query", args: args})
	if err != nil {
		if strings.Contains(out, "no packages found matching") {
			return "not-installed", "", nil
		}
		return "", "", fmt.Errorf("querying dpkg status of %s: %w", pkg, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	status, version, ok := strings.Cut(line, "\t")
	if !ok {
		return "", "", fmt.Errorf("querying dpkg status of %s: unexpected output %q", pkg, clipText(out))
	}
	return status, version, nil
}

// Snapshot keeps the installed version's .deb: the one patchnet kept when
// it installed it, else one rebuilt with dpkg-repack, else it records that
// there is none.
func (d Dpkg) Snapshot(ctx context.Context, env *Env, goal Goal) (Before, error) {
	status, version, err := d.status(ctx, env, goal.Package)
	if err != nil {
		return Before{}, err
	}
	switch status {
	case "not-installed":
		return Before{Kind: BeforeAbsent, Package: goal.Package, Note: "not installed before"}, nil
	case "config-files":
		return Before{Kind: BeforeAbsent, Package: goal.Package, ConfigFiles: true,
			Note: "removed before, its configuration files kept"}, nil
	case "installed":
	default:
		return Before{}, fmt.Errorf("saving before-state: dpkg says %s is %q; repair it (dpkg --configure -a) before installing", goal.Package, status)
	}
	if b, ok, err := keptPackage(env, d.Method(), goal.Package, version); ok || err != nil {
		return b, err
	}
	return d.repack(ctx, env, goal.Package, version)
}

// keptPackage returns the before-state from the package store, if it has
// the installed version.
func keptPackage(env *Env, method, pkg, version string) (Before, bool, error) {
	path, digest, ok := env.Packages.Lookup(method, pkg, version)
	if !ok {
		return Before{}, false, nil
	}
	kept, err := keepFile(path, env.KeepDir)
	if err != nil {
		return Before{}, false, fmt.Errorf("saving before-state: %w", err)
	}
	return Before{Kind: BeforePackage, Package: pkg, Version: version, Path: kept, SHA256: digest,
		Source: "kept by patchnet when it installed it"}, true, nil
}

// repack rebuilds the installed version's .deb from the installed files
// with dpkg-repack, when that tool is there.
func (d Dpkg) repack(ctx context.Context, env *Env, pkg, version string) (Before, error) {
	none := Before{Kind: BeforeNone, Package: pkg, Version: version,
		Note: fmt.Sprintf("%s %s was not installed by patchnet and dpkg-repack is not available to rebuild it", pkg, version)}
	if _, err := env.run.path("dpkg-repack"); err != nil {
		if errors.Is(err, errToolMissing) {
			return none, nil
		}
		return Before{}, err
	}
	dir := filepath.Join(env.KeepDir, "repack")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Before{}, fmt.Errorf("saving before-state: %w", err)
	}
	args := []string{"--", pkg}
	if !isSystemRoot(env.Root) {
		args = []string{"--root=" + env.Root, "--", pkg}
	}
	if _, err := env.run.run(ctx, runSpec{tool: "dpkg-repack", args: args, dir: dir}); err != nil {
		return Before{}, fmt.Errorf("saving before-state with dpkg-repack: %w", err)
	}
	return repacked(dir, pkg, version)
}

// repacked finds the one .deb dpkg-repack wrote and hashes it.
func repacked(dir, pkg, version string) (Before, error) {
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(debs) != 1 {
		return Before{}, fmt.Errorf("saving before-state: dpkg-repack wrote %d .deb files in %s, want 1", len(debs), dir)
	}
	sum, err := fileDigest(debs[0])
	if err != nil {
		return Before{}, fmt.Errorf("saving before-state: %w", err)
	}
	return Before{Kind: BeforePackage, Package: pkg, Version: version, Path: debs[0], SHA256: sum,
		Source: "rebuilt with dpkg-repack from the installed files"}, nil
}

// Install runs dpkg --install.
func (d Dpkg) Install(ctx context.Context, env *Env, art VerifiedArtifact, _ Goal) error {
	if art.IsZero() {
		return errNotVerified
	}
	args := append(d.rootArgs(env), "--install", "--", art.Path())
	if _, err := env.run.run(ctx, runSpec{tool: "dpkg", args: args}); err != nil {
		return fmt.Errorf("installing %s: %w", art.Name(), err)
	}
	return nil
}

// Restore reinstalls the kept .deb, or removes the package when it was not
// installed before: purged if it had never been, removed keeping its
// configuration files if only they were left.
func (d Dpkg) Restore(ctx context.Context, env *Env, before Before) error {
	switch before.Kind {
	case BeforeAbsent:
		action := "--purge"
		if before.ConfigFiles {
			action = "--remove"
		}
		args := append(d.rootArgs(env), action, "--", before.Package)
		_, err := env.run.run(ctx, runSpec{tool: "dpkg", args: args})
		return wrapRestore(before, err)
	case BeforePackage:
		art, err := reverifyKept(before.Path, before.SHA256)
		if err != nil {
			return wrapRestore(before, err)
		}
		return wrapRestore(before, d.Install(ctx, env, art, before.Goal()))
	default:
		return fmt.Errorf("restoring: %w", errNoBeforeState(before))
	}
}

// Reached asks dpkg whether goal is what is installed.
func (d Dpkg) Reached(ctx context.Context, env *Env, goal Goal) (bool, error) {
	status, version, err := d.status(ctx, env, goal.Package)
	if err != nil {
		return false, err
	}
	if goal.Absent {
		return status == "not-installed" || status == "config-files", nil
	}
	return status == "installed" && version == goal.Version, nil
}

// parseControlFields reads "Field: value" lines.
func parseControlFields(out string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return fields
}

// checkPackageField refuses an empty, overlong or whitespace-holding name
// or version read from a package, before it goes into arguments and paths.
func checkPackageField(field, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is empty", field)
	case len(v) > MaxPackageField:
		return fmt.Errorf("%s is %d bytes, more than %d", field, len(v), MaxPackageField)
	case strings.ContainsAny(v, " \t\r\n/\x00") || strings.HasPrefix(v, "-"):
		return fmt.Errorf("%s %q holds a space, slash, NUL or leading dash", field, clipText(v))
	}
	return nil
}

// isSystemRoot reports whether root means this machine's own root.
func isSystemRoot(root string) bool { return root == "" || filepath.Clean(root) == "/" }

// wrapRestore names the before-state a failed restore was for.
func wrapRestore(b Before, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("restoring %s: %w", b.Describe(), err)
}

// errNoBeforeState explains why there is nothing to restore.
func errNoBeforeState(b Before) error {
	return fmt.Errorf("no before-state to restore (%s)", b.Note)
}

// clipText shortens tool output for an error message.
func clipText(s string) string {
	const n = 200
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

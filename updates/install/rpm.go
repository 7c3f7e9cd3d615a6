package install

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// RPM installs .rpm files with rpm. With a sandbox Root it passes --root and
// an explicit --dbpath (Debian's rpm otherwise defaults to ~/.rpmdb), so
// tests install real packages into temporary directories. rpm checks
// dependencies before it changes anything, so an unmet dependency fails
// cleanly.
type RPM struct{}

// Method is "rpm".
func (RPM) Method() string { return "rpm" }

// Tools is rpm.
func (RPM) Tools() []string { return []string{"rpm"} }

// rpmQueryFormat prints name and [epoch:]version-release.
const rpmQueryFormat = `%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n`

// baseArgs aim rpm at env.Root and its database.
func (RPM) baseArgs(env *Env) []string {
	db := env.RPMDBPath
	if db == "" {
		db = DefaultRPMDBPath
	}
	args := []string{"--dbpath", path.Clean(db)}
	if !isSystemRoot(env.Root) {
		args = append([]string{"--root", env.Root}, args...)
	}
	return args
}

// Describe reads the name and version from the rpm header.
func (r RPM) Describe(ctx context.Context, env *Env, art VerifiedArtifact) (Goal, error) {
	args := append(r.baseArgs(env), "--query", "--package", "--queryformat", rpmQueryFormat, "--", art.Path())
	out, err := env.run.run(ctx, runSpec{tool: "rpm", args: args})
	if err != nil {
		return Goal{}, fmt.Errorf("reading rpm header: %w", err)
	}
	versions := parseRPMQuery(out)
	if len(versions) != 1 {
		return Goal{}, fmt.Errorf("reading rpm header of %s: unexpected output %q", art.Name(), clipText(out))
	}
	g := Goal{Package: versions[0][0], Version: versions[0][1]}
	for _, f := range [][2]string{{"Name", g.Package}, {"Version", g.Version}} {
		if err := checkPackageField(f[0], f[1]); err != nil {
			return Goal{}, fmt.Errorf("reading rpm header of %s: %w", art.Name(), err)
		}
	}
	return g, nil
}

// installed returns the installed versions of pkg (rpm allows several).
func (r RPM) installed(ctx context.Context, env *Env, pkg string) ([]string, error) {
	args := append(r.baseArgs(env), "--query", "--queryformat", rpmQueryFormat, "--", pkg)
	out, err := env.run.run(ctx, runSpec{tool: "rpm", args: args})
	if err != nil {
		if strings.Contains(out, "is not installed") {
			return nil, nil
		}
		return nil, fmt.Errorf("querying rpm database for %s: %w", pkg, err)
	}
	var versions []string
	for _, nv := range parseRPMQuery(out) {
		if nv[0] == pkg {
			versions = append(versions, nv[1])
		}
	}
	return versions, nil
}

// parseRPMQuery reads "name\tversion" lines, skipping rpm's warnings.
func parseRPMQuery(out string) [][2]string {
	var rows [][2]string
	for _, line := range strings.Split(out, "\n") {
		name, version, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if ok && name != "" && version != "" && !strings.Contains(line, " ") {
			rows = append(rows, [2]string{name, version})
		}
	}
	return rows
}

// Snapshot keeps the installed version's .rpm if patchnet kept it; rpm
// cannot rebuild an installed package, so otherwise there is none.
func (r RPM) Snapshot(ctx context.Context, env *Env, goal Goal) (Before, error) {
	versions, err := r.installed(ctx, env, goal.Package)
	if err != nil {
		return Before{}, err
	}
	switch len(versions) {
	case 0:
		return Before{Kind: BeforeAbsent, Package: goal.Package, Note: "not installed before"}, nil
	case 1:
	default:
		return Before{}, fmt.Errorf("saving before-state: %s is installed in %d versions (%s); patchnet upgrades only a single installed version",
			goal.Package, len(versions), strings.Join(versions, ", "))
	}
	if b, ok, err := keptPackage(env, r.Method(), goal.Package, versions[0]); ok || err != nil {
		return b, err
	}
	return Before{Kind: BeforeNone, Package: goal.Package, Version: versions[0],
		Note: fmt.Sprintf("%s %s was not installed by patchnet and rpm cannot rebuild it", goal.Package, versions[0])}, nil
}

// Install runs rpm --upgrade.
func (r RPM) Install(ctx context.Context, env *Env, art VerifiedArtifact, _ Goal) error {
	if art.IsZero() {
		return errNotVerified
	}
	args := append(r.baseArgs(env), "--upgrade", "--", art.Path())
	if _, err := env.run.run(ctx, runSpec{tool: "rpm", args: args}); err != nil {
		return fmt.Errorf("installing %s: %w", art.Name(), err)
	}
	return nil
}

// Restore reinstalls the kept .rpm (--oldpackage allows the downgrade,
// --replacepkgs makes it a no-op-safe reinstall when the install never
// happened), or erases the package when it was not installed before.
func (r RPM) Restore(ctx context.Context, env *Env, before Before) error {
	switch before.Kind {
	case BeforeAbsent:
		versions, err := r.installed(ctx, env, before.Package)
		if err != nil || len(versions) == 0 {
			return wrapRestore(before, err)
		}
		args := append(r.baseArgs(env), "--erase", "--", before.Package)
		_, err = env.run.run(ctx, runSpec{tool: "rpm", args: args})
		return wrapRestore(before, err)
	case BeforePackage:
		art, err := reverifyKept(before.Path, before.SHA256)
		if err != nil {
			return wrapRestore(before, err)
		}
		args := append(r.baseArgs(env), "--upgrade", "--oldpackage", "--replacepkgs", "--", art.Path())
		_, err = env.run.run(ctx, runSpec{tool: "rpm", args: args})
		return wrapRestore(before, err)
	default:
		return fmt.Errorf("restoring: %w", errNoBeforeState(before))
	}
}

// Reached asks the rpm database whether goal is what is installed.
func (r RPM) Reached(ctx context.Context, env *Env, goal Goal) (bool, error) {
	versions, err := r.installed(ctx, env, goal.Package)
	if err != nil {
		return false, err
	}
	if goal.Absent {
		return len(versions) == 0, nil
	}
	return len(versions) == 1 && versions[0] == goal.Version, nil
}

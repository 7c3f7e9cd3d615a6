package install

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Installer puts artifacts onto a host through one install method. The
// Manager drives it through a transaction: Describe, Snapshot, Install,
// and, when anything fails or a crash is recovered, Reached and Restore.
// Implementations run external programs only through env's runner, so every
// run is checked against the pinned digests and logged.
type Installer interface {
	// Method is the announcement's install method this installer handles.
	Method() string
	// Tools names the binaries (Tools field names: "dpkg", "rpm", "sh") the
	// installer must be able to run; they are checked against their pins
	// before the transaction changes anything.
	Tools() []string
	// Describe reads what the artifact would install (package name and
	// version, from the artifact itself where the format says).
	Describe(ctx context.Context, env *Env, art VerifiedArtifact) (Goal, error)
	// Snapshot records, and keeps under env.KeepDir, what is there now, so
	// Restore can bring it back.
	Snapshot(ctx context.Context, env *Env, goal Goal) (Before, error)
	// Install installs the verified artifact.
	Install(ctx context.Context, env *Env, art VerifiedArtifact, goal Goal) error
	// Restore brings back a before-state (after a failure, at recovery, or
	// for a rollback).
	Restore(ctx context.Context, env *Env, before Before) error
	// Reached reports whether the host is at goal now. It returns
	// ErrStateUnknown when the method cannot tell (scripts).
	Reached(ctx context.Context, env *Env, goal Goal) (bool, error)
}

// ErrStateUnknown is returned by Reached when the installer cannot observe
// the host's state.
var ErrStateUnknown = errors.New("installer cannot observe the installed state")

// Env is where one transaction's installer calls work.
type Env struct {
	// Root is the filesystem root packages are installed under: "/" for
	// this system, a directory for a sandbox.
	Root string
	// TxID is the transaction's id.
	TxID string
	// KeepDir is this transaction's directory for before-state files.
	KeepDir string
	// StateDir is patchnet's state directory.
	StateDir string
	// Plan is what the caller asked for.
	Plan Plan
	// RPMDBPath is the rpm database directory inside Root.
	RPMDBPath string
	// ScriptTimeout bounds an update script.
	ScriptTimeout time.Duration
	// MaxArchiveBytes bounds an archive's uncompressed size.
	MaxArchiveBytes int64
	// Packages keeps the package files patchnet installed.
	Packages *PackageStore
	// Artifact is the transaction's verified artifact (zero for a
	// rollback, which installs a kept before-state).
	Artifact VerifiedArtifact

	run *runner
	// undoing is set while Restore undoes this transaction's own change
	// (after a failure or at recovery), not while a rollback restores
	// another transaction's before-state.
	undoing bool
	// returnTo is, for a rollback, the kept tree path of the transaction it
	// rolls back: undoing the rollback puts that tree back there.
	returnTo string
}

// Goal is the state a transaction drives the host to.
type Goal struct {
	// Package and Version name what is installed at the goal; Absent means
	// the goal is "not installed".
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Absent  bool   `json:"absent,omitempty"`
	// Prefix is the archive installer's target directory (absolute, under
	// Root).
	Prefix string `json:"prefix,omitempty"`
	// Replaces is the inode of the tree the goal replaces at Prefix: the
	// archive installer tells the new tree from the old by it.
	Replaces uint64 `json:"replaces,omitempty"`
}

// Finisher is implemented by installers with bookkeeping left after a
// crash between installing and committing; the Manager calls Finish when a
// transaction commits, including at recovery.
type Finisher interface {
	Finish(env *Env, goal Goal) error
}

// String is "name version", "name (absent)" or the prefix.
func (g Goal) String() string {
	switch {
	case g.Prefix != "" && g.Package == "":
		return g.Prefix
	case g.Absent:
		return g.Package + " (not installed)"
	default:
		return g.Package + " " + g.Version
	}
}

// BeforeKind says what a before-state holds.
type BeforeKind string

// Before-state kinds.
const (
	// BeforePackage: the previous version's package file, kept.
	BeforePackage BeforeKind = "package-file"
	// BeforeAbsent: the package was not installed; restoring removes it.
	BeforeAbsent BeforeKind = "absent"
	// BeforeTree: the previous tree of an archive prefix, kept.
	BeforeTree BeforeKind = "tree"
	// BeforeScript: the update script declared a rollback action; restoring
	// runs the kept script with PATCHNET_ACTION=rollback.
	BeforeScript BeforeKind = "script-rollback"
	// BeforeNone: nothing can restore the previous state (an irreversible
	// script, or a previous package version patchnet did not keep and could
	// not rebuild). Rollback refuses; history says so.
	BeforeNone BeforeKind = "none"
)

// Before is what a transaction can restore.
type Before struct {
	Kind    BeforeKind `json:"kind"`
	Package string     `json:"package,omitempty"`
	Version string     `json:"version,omitempty"`
	// Path is the kept file (under the state directory) or tree (beside
	// Prefix, where the swap renames it: it exists only once the new tree
	// has been swapped in).
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Prefix is the archive prefix the tree belongs at.
	Prefix string `json:"prefix,omitempty"`
	// Inode identifies the tree that was at Prefix (archive recovery tells
	// old from new by it); 0 when Prefix did not exist.
	Inode uint64 `json:"inode,omitempty"`
	// Source says where the kept file came from ("kept by patchnet when it
	// installed it", "rebuilt with dpkg-repack").
	Source string `json:"source,omitempty"`
	// Note explains the before-state to a person, honestly.
	Note string `json:"note,omitempty"`
	// ConfigFiles marks an absent package whose configuration files were
	// left behind when it was removed (dpkg's config-files state):
	// restoring removes the package again but keeps them.
	ConfigFiles bool `json:"config_files,omitempty"`
}

// Goal is the host state restoring b leads to.
func (b Before) Goal() Goal {
	return Goal{Package: b.Package, Version: b.Version, Absent: b.Kind == BeforeAbsent, Prefix: b.Prefix}
}

// Restorable reports whether Restore can bring b back.
func (b Before) Restorable() bool { return b.Kind != BeforeNone && b.Kind != "" }

// Describe is one line for history.
func (b Before) Describe() string {
	switch b.Kind {
	case BeforePackage:
		return fmt.Sprintf("%s %s (%s)", b.Package, b.Version, b.Source)
	case BeforeAbsent:
		if b.ConfigFiles {
			return b.Package + " removed, configuration files kept: rollback removes it and keeps them"
		}
		return b.Package + " not installed: rollback removes it"
	case BeforeTree:
		return "previous tree of " + b.Prefix + ", kept at " + b.Path + " once the new tree is swapped in"
	case BeforeScript:
		return "script rollback action: " + filepath.Base(b.Path)
	default:
		return "no before-state: " + b.Note
	}
}

// DescribeRestored is one line for a before-state that has just been
// restored: where it is now. A tree is back at its prefix, not at the path
// it would have been kept at.
func (b Before) DescribeRestored() string {
	if b.Kind == BeforeTree {
		return "previous tree back at " + b.Prefix
	}
	return b.Describe()
}

// Plan is what the caller (patchnet apply, the agent) asks to install.
type Plan struct {
	// AnnouncementID and AnnouncementVersion identify the update.
	AnnouncementID      string `json:"announcement_id"`
	AnnouncementVersion uint64 `json:"announcement_version"`
	// Summary is the announcement's summary line.
	Summary string `json:"summary,omitempty"`
	// Method is the install method: dpkg, rpm, apk, script or archive.
	Method string `json:"method"`
	// Instructions are the announcement's special instructions, passed to
	// scripts as PATCHNET_INSTRUCTIONS.
	Instructions string `json:"instructions,omitempty"`
	// Prefix is the archive method's target directory, inside Root.
	Prefix string `json:"prefix,omitempty"`
}

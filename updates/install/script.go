package install

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Script runs an update script with the pinned shell: a timeout, a clean
// environment (PATH and PATCHNET_* variables describing the update), its own
// working directory, output captured to the journal.
//
// A script is reversible only if it says so: a line containing
// "patchnet: rollback" in its first 4 KiB declares that running it with
// PATCHNET_ACTION=rollback undoes what PATCHNET_ACTION=install did. The
// script is the signed artifact, so the declaration is as trusted as the
// script. Otherwise the install is recorded as irreversible and rollback
// refuses it.
type Script struct{}

// Method is "script".
func (Script) Method() string { return "script" }

// Tools is the shell.
func (Script) Tools() []string { return []string{"sh"} }

// rollbackMarker declares a script's rollback action.
var rollbackMarker = []byte("patchnet: rollback")

// Describe names the goal after the announcement: a script has no package.
func (Script) Describe(_ context.Context, env *Env, art VerifiedArtifact) (Goal, error) {
	name := env.Plan.AnnouncementID
	if name == "" {
		name = art.Name()
	}
	return Goal{Package: name, Version: strconv.FormatUint(env.Plan.AnnouncementVersion, 10)}, nil
}

// Snapshot records whether the script can undo itself.
func (Script) Snapshot(_ context.Context, env *Env, goal Goal) (Before, error) {
	art := env.Artifact
	if art.IsZero() {
		return Before{Kind: BeforeNone, Package: goal.Package,
			Note: "undoing a script's rollback action is not possible"}, nil
	}
	reversible, err := declaresRollback(art.Path())
	if err != nil {
		return Before{}, fmt.Errorf("saving before-state: %w", err)
	}
	if !reversible {
		return Before{Kind: BeforeNone, Package: goal.Package,
			Note: "the script does not declare a rollback action (\"patchnet: rollback\"): irreversible"}, nil
	}
	return Before{Kind: BeforeScript, Package: goal.Package, Path: art.Path(), SHA256: art.Digest(),
		Source: "the update script's own rollback action"}, nil
}

// declaresRollback looks for rollbackMarker in the script's head.
func declaresRollback(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head, err := io.ReadAll(io.LimitReader(f, ScriptHeadBytes))
	if err != nil {
		return false, err
	}
	return bytes.Contains(head, rollbackMarker), nil
}

// Install runs the script with PATCHNET_ACTION=install.
func (s Script) Install(ctx context.Context, env *Env, art VerifiedArtifact, _ Goal) error {
	if art.IsZero() {
		return errNotVerified
	}
	return s.run(ctx, env, art, "install")
}

// Restore runs the kept script with PATCHNET_ACTION=rollback.
func (s Script) Restore(ctx context.Context, env *Env, before Before) error {
	if before.Kind != BeforeScript {
		return fmt.Errorf("restoring: %w", errNoBeforeState(before))
	}
	art, err := reverifyKept(before.Path, before.SHA256)
	if err != nil {
		return wrapRestore(before, err)
	}
	return wrapRestore(before, s.run(ctx, env, art, "rollback"))
}

// run executes the script in a fresh working directory under KeepDir.
func (Script) run(ctx context.Context, env *Env, art VerifiedArtifact, action string) error {
	dir := filepath.Join(env.KeepDir, "work-"+action)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("running script: %w", err)
	}
	root := env.Root
	if root == "" {
		root = "/"
	}
	vars := []string{
		"PATCHNET_ACTION=" + action,
		"PATCHNET_ROOT=" + root,
		"PATCHNET_TX=" + env.TxID,
		"PATCHNET_ANNOUNCEMENT_ID=" + env.Plan.AnnouncementID,
		"PATCHNET_ANNOUNCEMENT_VERSION=" + strconv.FormatUint(env.Plan.AnnouncementVersion, 10),
		"PATCHNET_INSTRUCTIONS=" + env.Plan.Instructions,
		"PATCHNET_ARTIFACT=" + art.Path(),
	}
	spec := runSpec{tool: "sh", args: []string{"--", art.Path()}, dir: dir, env: vars, timeout: env.ScriptTimeout}
	if _, err := env.run.run(ctx, spec); err != nil {
		return fmt.Errorf("running update script %s (%s): %w", art.Name(), action, err)
	}
	return nil
}

// Reached cannot be answered for a script.
func (Script) Reached(context.Context, *Env, Goal) (bool, error) { return false, ErrStateUnknown }

package install

import (
	"bytes"
	"context"
	"errors"
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
//
// With a sysroot other than "/", the script runs chrooted into the sysroot
// with the sysroot's own /bin/sh (checked against its pin like any tool),
// so it changes the image it was meant for; a sysroot without /bin/sh is
// refused rather than the script run on this host.
type Script struct{}

// Method is "script".
func (Script) Method() string { return "script" }

// Tools is the shell.
func (Script) Tools() []string { return []string{"sh"} }

// rollbackMarker declares a script's rollback action.
var rollbackMarker = []byte("patchnet: rollback")

// Describe names the goal after the announcement: a script has no package.
// A sysroot without a shell is refused here, before anything changes.
func (Script) Describe(_ context.Context, env *Env, art VerifiedArtifact) (Goal, error) {
	if !isSystemRoot(env.Root) {
		if err := sysrootShell(env.Root); err != nil {
			return Goal{}, err
		}
	}
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

// run executes the script in a fresh working directory: under KeepDir on
// this host, or, for a sysroot, chrooted into it (see runChrooted).
func (s Script) run(ctx context.Context, env *Env, art VerifiedArtifact, action string) error {
	if !isSystemRoot(env.Root) {
		return s.runChrooted(ctx, env, art, action)
	}
	dir := filepath.Join(env.KeepDir, "work-"+action)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("running script: %w", err)
	}
	spec := runSpec{tool: "sh", args: []string{"--", art.Path()}, dir: dir,
		env: scriptVars(env, action, "/", art.Path()), timeout: env.ScriptTimeout}
	if _, err := env.run.run(ctx, spec); err != nil {
		return fmt.Errorf("running update script %s (%s): %w", art.Name(), action, err)
	}
	return nil
}

// runChrooted runs the script with the sysroot's own /bin/sh, chrooted
// into the sysroot, as dpkg and rpm run maintainer scripts with --root: a
// script for an image or sandbox must change that tree, never this host.
// A sysroot without /bin/sh is refused. The script is copied to
// /tmp/patchnet-TX-ACTION inside the root, which is also its working
// directory, and removed afterwards; PATCHNET_ROOT is "/".
func (Script) runChrooted(ctx context.Context, env *Env, art VerifiedArtifact, action string) error {
	rt, err := os.OpenRoot(env.Root)
	if err != nil {
		return fmt.Errorf("running script in %s: %w", env.Root, err)
	}
	defer rt.Close()
	if err := sysrootShell(env.Root); err != nil {
		return err
	}
	dir := "tmp/patchnet-" + env.TxID + "-" + action
	if err := rt.RemoveAll(dir); err != nil {
		return fmt.Errorf("running script in %s: %w", env.Root, err)
	}
	if err := rt.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("running script in %s: %w", env.Root, err)
	}
	defer rt.RemoveAll(dir)
	script := dir + "/" + filepath.Base(art.Path())
	if err := copyIntoRoot(rt, art.Path(), script); err != nil {
		return fmt.Errorf("running script in %s: %w", env.Root, err)
	}
	spec := runSpec{tool: "/bin/sh", chroot: env.Root, args: []string{"--", "/" + script}, dir: "/" + dir,
		env: scriptVars(env, action, "/", "/"+script), timeout: env.ScriptTimeout}
	if _, err := env.run.run(ctx, spec); err != nil {
		return fmt.Errorf("running update script %s (%s) chrooted into %s: %w", art.Name(), action, env.Root, err)
	}
	return nil
}

// sysrootShell refuses a sysroot that has no /bin/sh of its own.
func sysrootShell(root string) error {
	rt, err := os.OpenRoot(root)
	if err == nil {
		_, err = rt.Stat("bin/sh")
		rt.Close()
	}
	if err != nil {
		return fmt.Errorf("running a script in sysroot %s: it has no usable /bin/sh (%w); scripts for a sysroot run chrooted into it with its own shell, never on this host", root, err)
	}
	return nil
}

// copyIntoRoot copies the host file src to name inside rt.
func copyIntoRoot(rt *os.Root, src, name string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := rt.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o500)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// scriptVars describes the update to the script.
func scriptVars(env *Env, action, root, artifact string) []string {
	return []string{
		"PATCHNET_ACTION=" + action,
		"PATCHNET_ROOT=" + root,
		"PATCHNET_TX=" + env.TxID,
		"PATCHNET_ANNOUNCEMENT_ID=" + env.Plan.AnnouncementID,
		"PATCHNET_ANNOUNCEMENT_VERSION=" + strconv.FormatUint(env.Plan.AnnouncementVersion, 10),
		"PATCHNET_INSTRUCTIONS=" + env.Plan.Instructions,
		"PATCHNET_ARTIFACT=" + artifact,
	}
}

// Reached cannot be answered for a script.
func (Script) Reached(context.Context, *Env, Goal) (bool, error) { return false, ErrStateUnknown }

package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/patchnet/patchnet/internal/fsutil"
)

// Archive unpacks a tar.gz or zip into a prefix directory with an atomic
// swap: the archive is unpacked and synced into PREFIX.new-TX, then
// renameat2(RENAME_EXCHANGE) swaps it with PREFIX in one step, so PREFIX is
// at every instant either the whole old tree or the whole new one.
//
// The replaced tree is kept beside the prefix, at PARENT/.NAME.patchnet-old-TX
// (NAME being the prefix's base name), and only ever renamed, never copied:
// a rename within one directory cannot fail half-way, so the only full copy
// of a tree is never at risk, whatever filesystem the state directory is on.
// Trees are told apart by inode, so recovery finds a kept tree wherever a
// crash left it among those names.
type Archive struct{}

// Method is "archive".
func (Archive) Method() string { return "archive" }

// Tools is empty: unpacking is done in-process.
func (Archive) Tools() []string { return nil }

// stagedTree is where transaction tx unpacks before the swap.
func stagedTree(prefix, tx string) string { return prefix + ".new-" + tx }

// keptTree is where transaction tx keeps the tree it replaced.
func keptTree(prefix, tx string) string { return siblingTree(prefix, "old", tx) }

// undoneTree is where undoing transaction tx puts the tree tx had brought.
func undoneTree(prefix, tx string) string { return siblingTree(prefix, "undone", tx) }

// siblingTree names a hidden directory beside prefix.
func siblingTree(prefix, what, tx string) string {
	return filepath.Join(filepath.Dir(prefix), "."+filepath.Base(prefix)+".patchnet-"+what+"-"+tx)
}

// prefixPath is the prefix inside env.Root.
func prefixPath(env *Env) (string, error) {
	p := env.Plan.Prefix
	if p == "" {
		return "", errors.New("the archive method needs a prefix (apply --prefix DIR)")
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
		return "", fmt.Errorf("archive prefix %q must be a clean absolute path other than /", p)
	}
	root := env.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, p), nil
}

// Describe names the goal after the announcement; the tree is the goal.
func (Archive) Describe(_ context.Context, env *Env, art VerifiedArtifact) (Goal, error) {
	p, err := prefixPath(env)
	if err != nil {
		return Goal{}, err
	}
	name := env.Plan.AnnouncementID
	if name == "" {
		name = art.Name()
	}
	return Goal{Package: name, Version: strconv.FormatUint(env.Plan.AnnouncementVersion, 10), Prefix: p}, nil
}

// Snapshot records which tree is at the prefix now; the tree itself is
// kept by the swap, which renames it aside rather than copying it.
func (Archive) Snapshot(_ context.Context, env *Env, goal Goal) (Before, error) {
	ino, err := inodeOf(goal.Prefix)
	if errors.Is(err, fs.ErrNotExist) {
		return Before{Kind: BeforeAbsent, Package: goal.Package, Prefix: goal.Prefix,
			Note: goal.Prefix + " did not exist before"}, nil
	}
	if err != nil {
		return Before{}, fmt.Errorf("saving before-state: %w", err)
	}
	return Before{Kind: BeforeTree, Package: goal.Package, Prefix: goal.Prefix, Inode: ino,
		Path: keptTree(goal.Prefix, env.TxID), Source: "the replaced tree, renamed aside next to the prefix by the swap"}, nil
}

// Install unpacks next to the prefix and swaps the tree in.
func (a Archive) Install(_ context.Context, env *Env, art VerifiedArtifact, goal Goal) error {
	if art.IsZero() {
		return errNotVerified
	}
	staged := stagedTree(goal.Prefix, env.TxID)
	if err := os.RemoveAll(staged); err != nil {
		return fmt.Errorf("installing archive: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(goal.Prefix), 0o755); err != nil {
		return fmt.Errorf("installing archive: %w", err)
	}
	if err := Extract(art.Path(), staged, env.MaxArchiveBytes); err != nil {
		os.RemoveAll(staged)
		return fmt.Errorf("installing %s: %w", art.Name(), err)
	}
	if err := swapIn(staged, goal.Prefix); err != nil {
		return err
	}
	return renameAside(staged, keptTree(goal.Prefix, env.TxID))
}

// swapIn puts the tree at src in place of prefix in one step; src then
// holds what was at prefix (or nothing, if prefix did not exist).
func swapIn(src, prefix string) error {
	if _, err := os.Lstat(prefix); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(src, prefix); err != nil {
			return fmt.Errorf("swapping in %s: %w", prefix, err)
		}
		return fsutil.SyncDir(filepath.Dir(prefix))
	}
	if err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, prefix, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("swapping in %s (renameat2 RENAME_EXCHANGE): %w", prefix, err)
	}
	return fsutil.SyncDir(filepath.Dir(prefix))
}

// renameAside renames a tree to dst (beside it, so on the same
// filesystem); nothing to do when src is gone (a prefix that did not
// exist) or already is dst.
func renameAside(src, dst string) error {
	if src == dst {
		return nil
	}
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("keeping the replaced tree: %w", err)
	}
	return fsutil.SyncDir(filepath.Dir(dst))
}

// Finish puts the tree a transaction replaced under its kept name, if a
// crash came between the swap and that rename. Called when a transaction
// commits, including at recovery.
func (Archive) Finish(env *Env, goal Goal) error {
	if goal.Replaces == 0 || goal.Prefix == "" {
		return nil
	}
	src, err := locateTree(goal.Prefix, goal.Replaces, stagedTree(goal.Prefix, env.TxID))
	if err != nil || src == "" {
		return err
	}
	return renameAside(src, keptTree(goal.Prefix, env.TxID))
}

// Restore brings the before-state's tree back to the prefix (or removes the
// prefix if it did not exist). The tree it displaces is renamed aside, never
// deleted: for a rollback it becomes the rollback's own kept tree.
func (a Archive) Restore(_ context.Context, env *Env, before Before) error {
	if before.Kind != BeforeTree && before.Kind != BeforeAbsent {
		return fmt.Errorf("restoring: %w", errNoBeforeState(before))
	}
	prefix := before.Prefix
	cur, err := inodeOf(prefix)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrapRestore(before, err)
	}
	if (before.Kind == BeforeAbsent && !exists) || (before.Kind == BeforeTree && exists && cur == before.Inode) {
		return wrapRestore(before, dropStaged(env, before)) // never swapped
	}
	dest := displacedTo(env, prefix)
	if before.Kind == BeforeAbsent {
		return wrapRestore(before, renameAside(prefix, dest))
	}
	src, err := locateTree(prefix, before.Inode, before.Path, stagedTree(prefix, env.TxID))
	if err == nil && src == "" {
		err = fmt.Errorf("the kept tree (inode %d) is neither at %s nor anywhere beside %s; nothing was changed", before.Inode, before.Path, prefix)
	}
	if err == nil {
		err = swapIn(src, prefix)
	}
	if err == nil && exists {
		err = renameAside(src, dest)
	}
	return wrapRestore(before, err)
}

// dropStaged removes what an install unpacked but never swapped in. It is
// the artifact's content, which stays kept, and is never the tree a
// before-state names.
func dropStaged(env *Env, before Before) error {
	staged := stagedTree(before.Prefix, env.TxID)
	ino, err := inodeOf(staged)
	if err != nil || (before.Kind == BeforeTree && ino == before.Inode) {
		return nil
	}
	return os.RemoveAll(staged)
}

// displacedTo names where restoring puts the tree it displaces: a rollback
// keeps it as its own before-state; undoing a rollback returns it to the
// transaction the rollback was undoing; undoing an install keeps it under
// an "undone" name for an operator to look at.
func displacedTo(env *Env, prefix string) string {
	switch {
	case !env.undoing:
		return keptTree(prefix, env.TxID)
	case env.returnTo != "" && filepath.Dir(env.returnTo) == filepath.Dir(prefix):
		return env.returnTo
	default:
		return undoneTree(prefix, env.TxID)
	}
}

// locateTree finds the directory with inode ino among the candidates, then
// among the names patchnet gives trees beside prefix; "" if none has it.
// The prefix itself is never returned.
func locateTree(prefix string, ino uint64, candidates ...string) (string, error) {
	for _, c := range candidates {
		if c != "" && c != prefix {
			if got, err := inodeOf(c); err == nil && got == ino {
				return c, nil
			}
		}
	}
	dir, base := filepath.Split(prefix)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("looking for the kept tree beside %s: %w", prefix, err)
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || !(strings.HasPrefix(n, base+".new-") || strings.HasPrefix(n, "."+base+".patchnet-")) {
			continue
		}
		if got, err := inodeOf(filepath.Join(dir, n)); err == nil && got == ino {
			return filepath.Join(dir, n), nil
		}
	}
	return "", nil
}

// Reached tells the trees apart by inode: the goal is reached when the
// prefix holds another tree than the one it replaces (or, for an absent
// goal, no tree at all).
func (Archive) Reached(_ context.Context, _ *Env, goal Goal) (bool, error) {
	ino, err := inodeOf(goal.Prefix)
	if errors.Is(err, fs.ErrNotExist) {
		return goal.Absent, nil
	}
	if err != nil {
		return false, err
	}
	return !goal.Absent && ino != goal.Replaces, nil
}

// inodeOf is the inode number of path (not following a final symlink).
func inodeOf(path string) (uint64, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("no inode for %s", path)
	}
	return st.Ino, nil
}

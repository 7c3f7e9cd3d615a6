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
)

// Archive unpacks a tar.gz or zip into a prefix directory with an atomic
// swap: the archive is unpacked and synced into PREFIX.new-TX, then
// renameat2(RENAME_EXCHANGE) swaps it with PREFIX in one step, so PREFIX is
// at every instant either the whole old tree or the whole new one. The old
// tree is kept under the transaction's keep directory for rollback.
type Archive struct{}

// Method is "archive".
func (Archive) Method() string { return "archive" }

// Tools is empty: unpacking is done in-process.
func (Archive) Tools() []string { return nil }

// beforeTreeName is where a transaction keeps the tree it replaced.
const beforeTreeName = "before-tree"

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
// kept by the swap, which moves it rather than copying it.
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
		Path: filepath.Join(env.KeepDir, beforeTreeName), Source: "the replaced tree, moved aside by the swap"}, nil
}

// Install unpacks next to the prefix and swaps the tree in.
func (a Archive) Install(_ context.Context, env *Env, art VerifiedArtifact, goal Goal) error {
	if art.IsZero() {
		return errNotVerified
	}
	staged := goal.Prefix + ".new-" + env.TxID
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
	return a.swapIn(env, staged, goal.Prefix, filepath.Join(env.KeepDir, beforeTreeName))
}

// swapIn puts the staged tree at prefix and moves what was there to keep.
func (Archive) swapIn(env *Env, staged, prefix, keep string) error {
	if _, err := os.Lstat(prefix); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(staged, prefix); err != nil {
			return fmt.Errorf("swapping in %s: %w", prefix, err)
		}
		return syncDir(filepath.Dir(prefix))
	}
	if err := unix.Renameat2(unix.AT_FDCWD, staged, unix.AT_FDCWD, prefix, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("swapping in %s (renameat2 RENAME_EXCHANGE): %w", prefix, err)
	}
	if err := syncDir(filepath.Dir(prefix)); err != nil {
		return err
	}
	return moveTree(staged, keep)
}

// Finish moves the replaced tree into the keep directory if a crash came
// between the swap and the move. Called when a transaction commits.
func (Archive) Finish(env *Env, goal Goal) error {
	staged := goal.Prefix + ".new-" + env.TxID
	if _, err := os.Lstat(staged); err != nil {
		return nil
	}
	return moveTree(staged, filepath.Join(env.KeepDir, beforeTreeName))
}

// Restore brings the before-state's tree back to the prefix (or removes the
// prefix if it did not exist), keeping the tree it displaces.
func (a Archive) Restore(_ context.Context, env *Env, before Before) error {
	if before.Kind != BeforeTree && before.Kind != BeforeAbsent {
		return fmt.Errorf("restoring: %w", errNoBeforeState(before))
	}
	staged := before.Prefix + ".new-" + env.TxID
	displaced := filepath.Join(env.KeepDir, beforeTreeName)
	if displaced == before.Path {
		// Undoing this transaction's own install: the failed tree is not
		// worth keeping under the name a rollback would look for.
		displaced = filepath.Join(env.KeepDir, "failed-tree")
	}
	cur, err := inodeOf(before.Prefix)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrapRestore(before, err)
	}
	if (before.Kind == BeforeAbsent && !exists) || (before.Kind == BeforeTree && exists && cur == before.Inode) {
		return wrapRestore(before, os.RemoveAll(staged)) // never swapped: drop the staged tree
	}
	if before.Kind == BeforeAbsent {
		return wrapRestore(before, moveTree(before.Prefix, displaced))
	}
	return wrapRestore(before, a.restoreTree(env, before, staged, displaced))
}

// restoreTree copies the kept tree next to the prefix and swaps it in.
func (a Archive) restoreTree(env *Env, before Before, staged, displaced string) error {
	if err := os.RemoveAll(staged); err != nil {
		return err
	}
	if err := copyTree(before.Path, staged); err != nil {
		return fmt.Errorf("copying kept tree: %w", err)
	}
	if err := syncTree(staged); err != nil {
		return err
	}
	return a.swapIn(env, staged, before.Prefix, displaced)
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

// moveTree renames src to dst, copying across filesystems.
func moveTree(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	err := os.Rename(src, dst)
	if errors.Is(err, syscall.EXDEV) {
		if err := copyTree(src, dst); err != nil {
			return err
		}
		return os.RemoveAll(src)
	}
	return err
}

// copyTree copies directories, regular files and symlinks.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			if err := copyFile(p, target); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		default:
			return fmt.Errorf("copying %s: not a file, directory or symlink", strings.TrimPrefix(p, src))
		}
	})
}

// syncDir syncs a directory so a rename in it is durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

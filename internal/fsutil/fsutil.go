// Package fsutil holds patchnet's file primitives: writing a file so that
// a crash leaves the old or the new content, never a torn one (or, for a
// file that must not be replaced, none or the whole of it), syncing a
// directory, and reading a file whole without letting its size be
// unbounded.
package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, synced and renamed over path, with permissions perm.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	name, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(name) // no-op after a successful rename
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", name, path, err)
	}
	_ = SyncDir(filepath.Dir(path)) // best effort: makes the rename durable on ext4/xfs
	return nil
}

// WriteFileExclusive is WriteFileAtomic that never replaces an existing
// path: the synced temporary file is hard-linked to path, which fails if
// path exists, so a file is either absent or complete.
func WriteFileExclusive(path string, data []byte, perm os.FileMode) error {
	name, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(name)
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: refusing to overwrite it", path)
		}
		return fmt.Errorf("linking %s to %s: %w", name, path, err)
	}
	_ = SyncDir(filepath.Dir(path)) // best effort, as WriteFileAtomic
	return nil
}

// writeTemp writes data, synced, to a new temporary file beside path with
// permissions perm, and returns its name.
func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	name := tmp.Name()
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	return name, nil
}

// ErrTooLarge is returned by ReadFile for a file longer than its bound.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads all of path if it holds at most limit bytes. A longer file
// is an error (matching ErrTooLarge) rather than silently truncated, and
// never more than limit+1 bytes are read, whatever the file's size.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("reading %s: %w: more than %d bytes", path, ErrTooLarge, limit)
	}
	return data, nil
}

// SyncDir makes the creations, renames and removals of entries in dir
// durable: without it a power cut can bring back a removed or renamed
// name.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

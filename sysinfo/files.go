package sysinfo

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
)

// isNotExist reports a missing file, the normal way for a source to be
// absent on a host that does not use it.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// readSmall reads a small file under root whole, refusing one larger than
// maxSmallFileBytes (a /proc or /sys file, an id, a DMI string).
func readSmall(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSmallFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSmallFileBytes {
		return nil, errors.New(name + ": larger than expected for this file")
	}
	return b, nil
}

// readTrimmed is readSmall as a trimmed string, "" when unreadable: the
// single-value files it serves are optional evidence.
func readTrimmed(root *os.Root, name string) string {
	b, err := readSmall(root, name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// exists reports whether name exists under root.
func exists(root *os.Root, name string) bool {
	_, err := root.Lstat(name)
	return err == nil
}

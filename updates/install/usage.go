package install

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// fileID identifies a file whatever its name: hard links share one.
type fileID struct{ dev, ino uint64 }

// usage counts the bytes kept paths take, each file once however many
// kept paths hold a link to it (a kept package file is linked from
// packages/, keep/TX and artifacts/), and which paths are still named by
// kept transactions.
type usage struct {
	pathRefs  map[string]int
	inodes    map[string][]fileID
	inodeRefs map[fileID]int
	size      map[fileID]int64
	total     int64
}

// newUsage is an empty count.
func newUsage() *usage {
	return &usage{pathRefs: map[string]int{}, inodes: map[string][]fileID{},
		inodeRefs: map[fileID]int{}, size: map[fileID]int64{}}
}

// ref counts one more kept transaction naming path; the first reference
// walks it.
func (u *usage) ref(path string) {
	u.pathRefs[path]++
	if u.pathRefs[path] > 1 {
		return
	}
	ids, sizes := scanFiles(path)
	u.inodes[path] = ids
	for i, id := range ids {
		u.inodeRefs[id]++
		if u.inodeRefs[id] == 1 {
			u.size[id] = sizes[i]
			u.total += sizes[i]
		}
	}
}

// release drops one reference to path; when none is left the path goes,
// and freed is the bytes of the files that had no other kept link.
func (u *usage) release(path string) (freed int64, gone bool) {
	u.pathRefs[path]--
	if u.pathRefs[path] > 0 {
		return 0, false
	}
	for _, id := range u.inodes[path] {
		u.inodeRefs[id]--
		if u.inodeRefs[id] == 0 {
			freed += u.size[id]
			u.total -= u.size[id]
		}
	}
	return freed, true
}

// scanFiles lists the files at or under path (not following symlinks)
// with their sizes; what cannot be read counts as nothing.
func scanFiles(path string) ([]fileID, []int64) {
	var ids []fileID
	var sizes []int64
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ids = append(ids, fileID{uint64(st.Dev), st.Ino})
			sizes = append(sizes, fi.Size())
		}
		return nil
	})
	return ids, sizes
}

// exists reports whether something is at path (a dangling symlink too).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// fileBytes is the apparent size of the files at or under path.
func fileBytes(path string) int64 {
	_, sizes := scanFiles(path)
	var n int64
	for _, s := range sizes {
		n += s
	}
	return n
}

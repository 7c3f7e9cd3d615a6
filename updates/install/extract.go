package install

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrUnsafeArchive marks an archive refused for what it would do to the
// filesystem: a path or link leaving the target, or a size past the bounds.
var ErrUnsafeArchive = errors.New("unsafe archive")

// extractor unpacks into dir, counting entries and bytes. Every write goes
// through root (os.Root), which refuses any path that would resolve
// outside dir, whatever symlinks earlier entries made.
type extractor struct {
	dir      string
	root     *os.Root
	buf      []byte // copy buffer shared by all files
	maxBytes int64
	written  int64
	entries  int
}

// Extract unpacks a tar.gz or zip archive (told apart by their magic bytes)
// into dir, which must not exist yet. Entries that would land outside dir
// (absolute names, "..", links pointing out), device files, and archives
// past maxBytes uncompressed or MaxArchiveEntries entries are refused with
// an error matching ErrUnsafeArchive, and dir is removed again. Files are
// synced before it returns.
func Extract(archivePath, dir string, maxBytes int64) error {
	f, err := os.Open(archivePath)
	if err != nil {
		return fmt.Errorf("unpacking archive: %w", err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return fmt.Errorf("unpacking archive %s: too short to be tar.gz or zip", filepath.Base(archivePath))
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("unpacking archive: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpacking archive: %w", err)
	}
	defer root.Close()
	x := &extractor{dir: dir, root: root, maxBytes: maxBytes, buf: make([]byte, 64<<10)}
	switch {
	case magic[0] == 0x1f && magic[1] == 0x8b:
		_, err = f.Seek(0, io.SeekStart)
		if err == nil {
			err = x.tarGz(f)
		}
	case bytes.Equal(magic[:], []byte("PK\x03\x04")):
		err = x.zip(f)
	default:
		err = fmt.Errorf("%s is neither tar.gz nor zip (first bytes %x)", filepath.Base(archivePath), magic)
	}
	if err == nil {
		err = x.checkAllLinks()
	}
	if err == nil {
		err = syncFS(dir)
	}
	if err != nil {
		// A refused archive leaves nothing: a half-made tree may hold a
		// link that only the rest of the check would have refused.
		return errors.Join(fmt.Errorf("unpacking archive: %w", err), os.RemoveAll(dir))
	}
	return nil
}

// tarGz unpacks a gzip-compressed tar stream.
func (x *extractor) tarGz(r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading gzip: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if err := x.tarEntry(hdr, tr); err != nil {
			return err
		}
	}
}

// tarEntry unpacks one tar entry.
func (x *extractor) tarEntry(hdr *tar.Header, r io.Reader) error {
	target, err := x.entryPath(hdr.Name)
	if err != nil || target == "" {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.root.MkdirAll(target, dirMode(hdr.FileInfo().Mode()))
	case tar.TypeReg:
		return x.file(target, hdr.FileInfo().Mode(), r)
	case tar.TypeSymlink:
		return x.symlink(hdr.Name, hdr.Linkname, target)
	case tar.TypeLink:
		return x.hardlink(hdr.Name, hdr.Linkname, target)
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("entry %q: type %q (device, fifo or unknown) refused: %w", clipText(hdr.Name), hdr.Typeflag, ErrUnsafeArchive)
	}
}

// zip unpacks a zip file.
func (x *extractor) zip(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return fmt.Errorf("reading zip: %w", err)
	}
	if len(zr.File) > MaxArchiveEntries {
		return fmt.Errorf("%d entries, more than %d: %w", len(zr.File), MaxArchiveEntries, ErrUnsafeArchive)
	}
	for _, zf := range zr.File {
		if err := x.zipEntry(zf); err != nil {
			return err
		}
	}
	return nil
}

// zipEntry unpacks one zip entry, refusing a compression ratio no real
// software has before reading it.
func (x *extractor) zipEntry(zf *zip.File) error {
	if zf.CompressedSize64 > 0 && zf.UncompressedSize64/zf.CompressedSize64 > MaxArchiveRatio {
		return fmt.Errorf("entry %q expands %d:1, more than %d:1: %w", clipText(zf.Name),
			zf.UncompressedSize64/zf.CompressedSize64, MaxArchiveRatio, ErrUnsafeArchive)
	}
	target, err := x.entryPath(zf.Name)
	if err != nil || target == "" {
		return err
	}
	mode := zf.Mode()
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("entry %q: %w", clipText(zf.Name), err)
	}
	defer rc.Close()
	switch {
	case mode.IsDir():
		return x.root.MkdirAll(target, dirMode(mode))
	case mode&fs.ModeSymlink != 0:
		link, err := io.ReadAll(io.LimitReader(rc, MaxPathLength+1))
		if err != nil {
			return fmt.Errorf("entry %q: %w", clipText(zf.Name), err)
		}
		return x.symlink(zf.Name, string(link), target)
	case mode.IsRegular():
		return x.file(target, mode, rc)
	default:
		return fmt.Errorf("entry %q: mode %v refused: %w", clipText(zf.Name), mode, ErrUnsafeArchive)
	}
}

// entryPath checks an entry name and returns where it goes, relative to
// the root; "" for the archive's own top directory ("./").
func (x *extractor) entryPath(name string) (string, error) {
	x.entries++
	if x.entries > MaxArchiveEntries {
		return "", fmt.Errorf("more than %d entries: %w", MaxArchiveEntries, ErrUnsafeArchive)
	}
	rel, err := safeRelPath(name)
	if err != nil || rel == "." {
		return "", err
	}
	if err := x.noSymlinkParents(name, rel); err != nil {
		return "", err
	}
	if parent := path.Dir(rel); parent != "." {
		if err := x.root.MkdirAll(parent, 0o755); err != nil {
			return "", fmt.Errorf("entry %q: %w", clipText(name), err)
		}
	}
	return rel, nil
}

// noSymlinkParents refuses an entry whose parent directories include a
// symlink made by an earlier entry: a link's target is checked where the
// link is named, so writing through one could still land outside the tree.
func (x *extractor) noSymlinkParents(name, rel string) error {
	cur := ""
	parts := strings.Split(path.Dir(rel), "/")
	for _, part := range parts {
		if part == "." {
			continue
		}
		cur = path.Join(cur, part)
		fi, err := x.root.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("entry %q goes through the symlink %q: %w", clipText(name), part, ErrUnsafeArchive)
		}
	}
	return nil
}

// syscallNoFollow keeps a file entry from being written through a symlink
// an earlier entry put at the same name.
const syscallNoFollow = syscall.O_NOFOLLOW

// maxLinkHops bounds the symlinks followed resolving one link, as the
// kernel's ELOOP does.
const maxLinkHops = 40

// safeRelPath cleans an archive entry name and refuses one that is
// absolute, climbs with "..", holds a NUL or a backslash, or is too long.
func safeRelPath(name string) (string, error) {
	switch {
	case len(name) > MaxPathLength:
		return "", fmt.Errorf("entry name of %d bytes, more than %d: %w", len(name), MaxPathLength, ErrUnsafeArchive)
	case name == "":
		return "", fmt.Errorf("entry with an empty name: %w", ErrUnsafeArchive)
	case strings.ContainsAny(name, "\x00\\"):
		return "", fmt.Errorf("entry %q holds a NUL or backslash: %w", clipText(name), ErrUnsafeArchive)
	case path.IsAbs(name):
		return "", fmt.Errorf("entry %q is an absolute path: %w", clipText(name), ErrUnsafeArchive)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q climbs out with \"..\": %w", clipText(name), ErrUnsafeArchive)
		}
	}
	return path.Clean(name), nil
}

// file writes one regular file, counting its bytes against the bound.
func (x *extractor) file(target string, mode fs.FileMode, r io.Reader) error {
	out, err := x.root.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscallNoFollow, fileMode(mode))
	if err != nil {
		return fmt.Errorf("writing %s: %w", target, err)
	}
	room := x.maxBytes - x.written
	// Wrapped so os.File's ReadFrom, which brings its own buffer per
	// file, does not bypass the shared one.
	n, err := io.CopyBuffer(struct{ io.Writer }{out}, io.LimitReader(r, room+1), x.buf)
	x.written += n
	if err == nil && n > room {
		err = fmt.Errorf("more than %d bytes uncompressed: %w", x.maxBytes, ErrUnsafeArchive)
	}
	return errors.Join(err, out.Close())
}

// symlink creates a link whose target, resolved from the link's own
// directory through the links already in the tree, stays inside the tree.
func (x *extractor) symlink(name, linkname, target string) error {
	if linkname == "" || path.IsAbs(linkname) || strings.ContainsRune(linkname, 0) {
		return fmt.Errorf("entry %q: symlink to %q leaves the tree: %w", clipText(name), clipText(linkname), ErrUnsafeArchive)
	}
	resolved := path.Join(path.Dir(target), linkname)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("entry %q: symlink to %q leaves the tree: %w", clipText(name), clipText(linkname), ErrUnsafeArchive)
	}
	if err := x.staysInside(name, target, linkname); err != nil {
		return err
	}
	return x.root.Symlink(linkname, target)
}

// staysInside resolves linkname from rel's directory the way the kernel
// will, following the symlinks the tree holds so far, and refuses it if it
// climbs above the tree. A path through a name that does not exist yet is
// taken lexically; checkAllLinks repeats the check once the tree is whole.
func (x *extractor) staysInside(name, rel, linkname string) error {
	escape := func(why string) error {
		return fmt.Errorf("entry %q: symlink to %q %s: %w", clipText(name), clipText(linkname), why, ErrUnsafeArchive)
	}
	var stack []string
	if dir := path.Dir(rel); dir != "." {
		stack = strings.Split(dir, "/")
	}
	queue := strings.Split(linkname, "/")
	for hops := 0; len(queue) > 0; {
		part := queue[0]
		queue = queue[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return escape("leaves the tree through the links it holds")
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, part)
		cur := strings.Join(stack, "/")
		fi, err := x.root.Lstat(cur)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if hops++; hops > maxLinkHops {
			return escape("goes through more than 40 links")
		}
		next, err := x.root.Readlink(cur)
		if err != nil || path.IsAbs(next) {
			return escape("goes through a link out of the tree")
		}
		stack = stack[:len(stack)-1]
		queue = append(strings.Split(next, "/"), queue...)
	}
	return nil
}

// checkAllLinks re-checks every symlink of the finished tree: a link made
// early may only leave the tree through a link made after it.
func (x *extractor) checkAllLinks() error {
	return fs.WalkDir(x.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		link, err := x.root.Readlink(p)
		if err != nil {
			return err
		}
		return x.staysInside(p, p, link)
	})
}

// hardlink links to an earlier regular file of the same tree, found
// without following any symlink.
func (x *extractor) hardlink(name, linkname, target string) error {
	rel, err := safeRelPath(linkname)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if err := x.noSymlinkParents(name, rel); err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	fi, err := x.root.Lstat(rel)
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("hard link to %q: not an earlier regular file of the archive: %w", clipText(linkname), ErrUnsafeArchive)
	}
	return x.root.Link(rel, target)
}

// fileMode keeps permission bits only: no setuid, setgid or sticky bits
// come from an archive.
func fileMode(m fs.FileMode) fs.FileMode { return m.Perm() | 0o600 }

// dirMode keeps permission bits and makes sure the owner can enter.
func dirMode(m fs.FileMode) fs.FileMode { return m.Perm() | 0o700 }

// syncFS makes a freshly unpacked tree durable, files and directories, in
// one syncfs(2) of its filesystem, so the renames that follow publish
// complete content; one call instead of an fsync per file keeps unpacking
// many small files fast.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

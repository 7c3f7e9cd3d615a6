package content

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// DiskStore is the on-disk Blockstore: one file per block under
// dir/blocks/<2 hex digits of the digest>/<CID>, written to dir/tmp and
// renamed into place, so a reader sees a whole block or none.
//
// Files rather than badger: blocks are ~1 MiB, which badger would keep in
// its value log and reclaim only through value-log GC; as files they cost one
// read each, the page cache holds hot ones, Delete frees space at once, and
// an operator can inspect or remove them with ordinary tools. Blocks are not
// fsynced one by one (that would cap fetches at disk-flush speed): a block
// torn by a crash fails the re-hash in Get and is fetched again.
//
// Get re-hashes a block the first time it reads it in this process and
// remembers the file's size and modification time; later reads of the
// unchanged file skip the hash. Serving a 1 MiB block then costs a read, not
// a read and a SHA-256, which matters most when the node serves many peers.
// A block rewritten or replaced since is hashed again; silent bit rot after
// the first read is not caught here, but every fetcher hashes every block
// and refuses a bad one.
type DiskStore struct {
	dir string

	mu       sync.Mutex
	verified map[cid.Cid]fileStamp
}

// fileStamp identifies a block file as it was when last verified.
type fileStamp struct {
	size  int64
	mtime time.Time
}

var _ Blockstore = (*DiskStore)(nil)

// OpenDiskStore opens (creating if needed) a DiskStore in dir and removes
// temp files a crash left behind.
func OpenDiskStore(dir string) (*DiskStore, error) {
	for _, sub := range []string{"blocks", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("opening block store: %w", err)
		}
	}
	leftovers, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		return nil, fmt.Errorf("opening block store: %w", err)
	}
	for _, e := range leftovers {
		_ = os.Remove(filepath.Join(dir, "tmp", e.Name())) // best effort: only wastes space
	}
	return &DiskStore{dir: dir, verified: make(map[cid.Cid]fileStamp)}, nil
}

// tempDir is where files are written before they are renamed into place.
func (d *DiskStore) tempDir() string {
	return filepath.Join(d.dir, "tmp")
}

// path returns where c's block lives.
func (d *DiskStore) path(c cid.Cid) (string, error) {
	dec, err := mh.Decode(c.Hash())
	if err != nil || len(dec.Digest) == 0 {
		return "", fmt.Errorf("locating block %s: %w", c, ErrBadDAG)
	}
	shard := hex.EncodeToString(dec.Digest[:1])
	return filepath.Join(d.dir, "blocks", shard, c.String()), nil
}

// Has implements Blockstore.
func (d *DiskStore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	_, err := d.Size(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Get implements Blockstore.
func (d *DiskStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return d.getInto(ctx, c, nil)
}

// getInto is Get reading into buf when it is large enough, so the server
// can recycle its buffers instead of allocating one per block served.
func (d *DiskStore) getInto(_ context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	p, err := d.path(c)
	if err != nil {
		return nil, err
	}
	data, stamp, err := readBlockFile(p, buf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("getting %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("getting %s: %w", c, err)
	}
	if d.isVerified(c, stamp) {
		return data, nil
	}
	if err := verifyBlock(c, data); err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	d.markVerified(c, stamp)
	return data, nil
}

// readBlockFile reads a block file (into buf if it fits) and stamps it from
// the same open file, so the stamp describes the bytes read.
func readBlockFile(p string, buf []byte) ([]byte, fileStamp, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fileStamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, err
	}
	if fi.Size() > MaxBlockSize {
		return nil, fileStamp{}, fmt.Errorf("block file of %d bytes: %w", fi.Size(), ErrOversized)
	}
	data := buf[:0]
	if int64(cap(data)) < fi.Size() {
		data = make([]byte, fi.Size())
	}
	data = data[:fi.Size()]
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fileStamp{}, err
	}
	return data, fileStamp{size: fi.Size(), mtime: fi.ModTime()}, nil
}

func (d *DiskStore) isVerified(c cid.Cid, s fileStamp) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.verified[c]
	return ok && v.size == s.size && v.mtime.Equal(s.mtime)
}

func (d *DiskStore) markVerified(c cid.Cid, s fileStamp) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.verified) >= MaxVerifiedStamps {
		clear(d.verified) // rare; costs one re-hash per block
	}
	d.verified[c] = s
}

func (d *DiskStore) forgetVerified(c cid.Cid) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.verified, c)
}

// PutVerified implements Blockstore.
func (d *DiskStore) PutVerified(_ context.Context, c cid.Cid, data []byte) error {
	if len(data) > MaxBlockSize {
		return fmt.Errorf("storing %s of %d bytes: %w", c, len(data), ErrOversized)
	}
	p, err := d.path(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("storing %s: %w", c, err)
	}
	tmp, err := os.CreateTemp(d.tempDir(), "put-*")
	if err != nil {
		return fmt.Errorf("storing %s: %w", c, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("storing %s: %w", c, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("storing %s: %w", c, err)
	}
	d.forgetVerified(c)
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("storing %s: %w", c, err)
	}
	return nil
}

// Size implements Blockstore.
func (d *DiskStore) Size(_ context.Context, c cid.Cid) (int, error) {
	p, err := d.path(c)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("sizing %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("sizing %s: %w", c, err)
	}
	return int(fi.Size()), nil
}

// Delete implements Blockstore.
func (d *DiskStore) Delete(_ context.Context, c cid.Cid) error {
	p, err := d.path(c)
	if err != nil {
		return err
	}
	d.forgetVerified(c)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", c, err)
	}
	return nil
}

// Stored implements Blockstore: the block file's modification time.
func (d *DiskStore) Stored(_ context.Context, c cid.Cid) (time.Time, error) {
	p, err := d.path(c)
	if err != nil {
		return time.Time{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, fmt.Errorf("dating %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("dating %s: %w", c, err)
	}
	return fi.ModTime(), nil
}

// AllKeys implements Blockstore. Files whose names are not CIDs (an
// operator's stray copy, say) are skipped.
func (d *DiskStore) AllKeys(ctx context.Context) ([]cid.Cid, error) {
	var keys []cid.Cid
	err := filepath.WalkDir(filepath.Join(d.dir, "blocks"), func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			return nil
		}
		if c, err := cid.Decode(e.Name()); err == nil {
			keys = append(keys, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	return keys, nil
}

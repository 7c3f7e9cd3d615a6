package content

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/ipfs/go-cid"
)

// recordingStore remembers the blocks a fetch added, so a failed fetch can
// take them back out and the store only ever holds artifacts that passed
// their digest check.
type recordingStore struct {
	Blockstore
	mu    sync.Mutex
	added []cid.Cid
}

// PutVerified stores blocks not already held and records them.
func (r *recordingStore) PutVerified(ctx context.Context, c cid.Cid, data []byte) error {
	if has, err := r.Blockstore.Has(ctx, c); err == nil && has {
		return nil
	}
	if err := r.Blockstore.PutVerified(ctx, c, data); err != nil {
		return err
	}
	r.mu.Lock()
	r.added = append(r.added, c)
	r.mu.Unlock()
	return nil
}

// undo deletes what this fetch added; failures only waste space.
func (r *recordingStore) undo(ctx context.Context) {
	r.mu.Lock()
	added := r.added
	r.added = nil
	r.mu.Unlock()
	for _, c := range added {
		_ = r.Blockstore.Delete(ctx, c)
	}
}

// vendorImport builds the DAG of bytes arriving from a vendor, so an
// artifact fetched from the origin is kept and provided like one fetched
// from peers.
type vendorImport struct {
	pw   *io.PipeWriter
	done chan struct{}
	root cid.Cid
	err  error
}

var errImportAborted = errors.New("vendor fetch failed")

// startImport tees the artifact into Import when the whole artifact will
// pass through (nothing written yet) and blocks are kept; otherwise nil.
func (f *fetch) startImport(ctx context.Context) *vendorImport {
	if f.kept == nil || !f.want.CID.Defined() || f.out.n != 0 {
		return nil
	}
	pr, pw := io.Pipe()
	imp := &vendorImport{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(imp.done)
		imp.root, imp.err = Import(ctx, pr, f.kept)
		if imp.err != nil {
			pr.CloseWithError(imp.err) // unblocks the tee, which then stops
		}
	}()
	f.out.tee = pw
	return imp
}

// finish reports whether the imported DAG is the announced one.
func (i *vendorImport) finish(want cid.Cid) bool {
	if i == nil {
		return false
	}
	_ = i.pw.Close()
	<-i.done
	return i.err == nil && i.root.Equals(want)
}

func (i *vendorImport) abort() {
	if i == nil {
		return
	}
	_ = i.pw.CloseWithError(errImportAborted)
	<-i.done
}

package content

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// fromLocal writes the artifact from this node's own store when it holds
// every block (it published or fetched it before). done is false, with
// nothing written, when any block is missing; then the network is used.
func (f *fetch) fromLocal(ctx context.Context) (done bool, err error) {
	if f.s.store == nil || !f.want.CID.Defined() {
		return false, nil
	}
	if has, err := f.s.store.Has(ctx, f.want.CID); err != nil || !has {
		return false, nil
	}
	leaves, _, err := resolveDAG(ctx, f.want.CID, f.want.Size, storeNodes(f.s.store))
	if err != nil {
		return false, nil // an incomplete or damaged DAG here: fetch it again
	}
	for _, l := range leaves {
		if has, err := f.s.store.Has(ctx, l.c); err != nil || !has {
			return false, nil
		}
	}
	f.res.Sources = append(f.res.Sources, SourceLocal)
	for _, l := range leaves {
		data, err := f.s.store.Get(ctx, l.c)
		if errors.Is(err, ErrCorruptBlock) {
			// Drop it, so the next attempt fetches it from the network
			// instead of failing here again.
			_ = f.s.store.Delete(ctx, l.c)
		}
		if err != nil {
			return true, fmt.Errorf("reading held block: %w", err)
		}
		if len(data) != l.size {
			return true, fmt.Errorf("held block %s of %d bytes where the DAG says %d: %w", l.c, len(data), l.size, ErrSizeMismatch)
		}
		if _, err := f.out.Write(data); err != nil {
			return true, err
		}
		f.report(SourceLocal)
	}
	return true, nil
}

// storeNodes fetches DAG nodes from a block store (Get verifies them).
func storeNodes(store Blockstore) nodeFetcher {
	return func(ctx context.Context, cids []cid.Cid) ([][]byte, error) {
		out := make([][]byte, len(cids))
		for i, c := range cids {
			d, err := store.Get(ctx, c)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	}
}

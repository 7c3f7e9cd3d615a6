package content

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"
)

// PruneResult says what Prune did.
type PruneResult struct {
	Kept      int   // blocks kept: reached from a kept root, or stored since the cut-off
	KeptBytes int64 // their bytes: what the store holds now
	Removed   int   // blocks deleted
	Freed     int64 // their bytes
	Forgotten int   // provided roots deleted, no longer announced
}

// Prune deletes the blocks that no root in keep reaches and that were
// stored before cutoff, and stops providing the roots it deleted: the
// node names the artifacts the zone may still ask for (keep), and blocks
// stored since cutoff — a fetch or seeding in flight, whose root the node
// may not know yet — are left for the next prune. A kept root whose DAG
// is not wholly held keeps what of it is held.
func (s *Service) Prune(ctx context.Context, keep []cid.Cid, cutoff time.Time) (PruneResult, error) {
	var res PruneResult
	if s.store == nil {
		return res, nil
	}
	reached, err := reachable(ctx, s.store, keep)
	if err != nil {
		return res, fmt.Errorf("pruning blocks: %w", err)
	}
	keys, err := s.store.AllKeys(ctx)
	if err != nil {
		return res, fmt.Errorf("pruning blocks: %w", err)
	}
	removed := map[cid.Cid]bool{}
	for _, c := range keys {
		gone, size, err := s.pruneBlock(ctx, c, reached[c], cutoff)
		if err != nil {
			return res, fmt.Errorf("pruning blocks: %w", err)
		}
		if !gone {
			res.Kept++
			res.KeptBytes += size
			continue
		}
		removed[c] = true
		res.Removed++
		res.Freed += size
	}
	for _, r := range s.prov.Roots() {
		if removed[r] {
			s.prov.Forget(r)
			res.Forgotten++
		}
	}
	s.budget.forget(removed)
	return res, nil
}

// pruneBlock deletes c unless it is reached or was stored at or after
// cutoff, and reports whether it did and c's size.
func (s *Service) pruneBlock(ctx context.Context, c cid.Cid, reached bool, cutoff time.Time) (bool, int64, error) {
	size, err := s.store.Size(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return false, 0, nil // deleted meanwhile
	}
	if err != nil || reached {
		return false, int64(size), err
	}
	at, err := s.store.Stored(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return false, 0, nil
	}
	if err != nil || !at.Before(cutoff) {
		return false, int64(size), err
	}
	return true, int64(size), s.store.Delete(ctx, c)
}

// reachable is every block the DAGs under roots link to, held or not,
// roots included. A DAG node that is missing or does not decode ends the
// walk below it: its children, if held, are not reached.
func reachable(ctx context.Context, store Blockstore, roots []cid.Cid) (map[cid.Cid]bool, error) {
	seen := map[cid.Cid]bool{}
	queue := append([]cid.Cid(nil), roots...)
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c] {
			continue
		}
		if len(seen) >= MaxPruneReach {
			return nil, fmt.Errorf("the kept roots reach more than %d blocks (limit)", MaxPruneReach)
		}
		seen[c] = true
		if c.Prefix().Codec != cid.DagProtobuf {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := store.Get(ctx, c)
		if err != nil {
			continue // missing or corrupt: nothing below it to keep
		}
		pn, err := merkledag.DecodeProtobuf(data)
		if err != nil {
			continue
		}
		for _, l := range pn.Links() {
			queue = append(queue, l.Cid)
		}
	}
	return seen, nil
}

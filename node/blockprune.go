package node

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/patchnet/patchnet/updates"
)

// Pruning the content block store (STATE/blocks): every artifact a node
// fetched, seeded or published stayed there for good, a second copy of
// each update on every host. The node notes the artifacts it holds blocks
// of, with their announcement (heldArtifact), and every BlockPruneInterval
// keeps the artifacts the zone may still ask it for — announcements not
// expired and not superseded by a higher version of the same id it holds
// — and has the content layer delete every other block stored more than
// BlockPruneGrace ago (a fetch in flight is younger) and stop providing
// the roots it deleted. A peer that still wants a deleted artifact gets
// it from another peer or the vendor URL, as for any artifact a peer
// lacks.

// EventBlocksPruned: the node deleted blocks of artifacts no longer
// current (the detail says how many and how much).
const EventBlocksPruned EventKind = "blocks-pruned"

// heldPrefix keys the artifacts this node holds blocks of, by content id.
const heldPrefix = "node/held/"

// heldArtifact is an artifact whose blocks this node holds, and the
// announcement it was fetched or seeded for.
type heldArtifact struct {
	CID     string    `json:"cid"`
	ID      string    `json:"id"`
	Version uint64    `json:"version"`
	Expires time.Time `json:"expires"`
}

// noteHeld records that the node holds (or is about to fetch or seed)
// the blocks of verified announcement a's artifact. An artifact with no
// content id is not fetched from peers and needs no record.
func (n *Node) noteHeld(verified *updates.Announcement) {
	art := verified.Patchnet.Artifact
	if art == nil || art.ContentID == "" {
		return
	}
	key := heldPrefix + art.ContentID
	rec := heldArtifact{CID: art.ContentID, ID: verified.ID, Version: verified.Patchnet.Version, Expires: verified.Patchnet.Expires}
	old, ok, err := getRecord[heldArtifact](n.db, key)
	if err == nil && ok && old.Version >= rec.Version && !old.Expires.Before(rec.Expires) {
		return
	}
	if err := putRecord(n.db, key, rec); err != nil {
		n.log.Warn("noting a held artifact", "id", verified.ID, "err", err)
	}
}

// pruneLoop prunes the block store at start and every BlockPruneInterval.
func (n *Node) pruneLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.pruneBlocks(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("pruning the block store", "err", err)
		}
		t.Reset(BlockPruneInterval)
	}
}

// pruneBlocks runs one prune (see above) and forgets the held records of
// the artifacts it no longer keeps.
func (n *Node) pruneBlocks(ctx context.Context) error {
	keep, drop, err := n.heldArtifacts()
	if err != nil {
		return err
	}
	roots := make([]cid.Cid, 0, len(keep))
	for _, h := range keep {
		c, err := cid.Decode(h.CID)
		if err != nil {
			drop = append(drop, h) // a record this node wrote; nothing to keep by it
			continue
		}
		roots = append(roots, c)
	}
	res, err := n.content.Prune(ctx, roots, time.Now().Add(-BlockPruneGrace))
	if err != nil {
		return err
	}
	for _, h := range drop {
		if err := deleteRecord(n.db, heldPrefix+h.CID); err != nil {
			return err
		}
	}
	n.lastPrune.Store(&APIPrune{At: time.Now(), Artifacts: len(roots), Blocks: res.Kept, Bytes: res.KeptBytes,
		Removed: res.Removed, FreedBytes: res.Freed})
	if res.Removed > 0 {
		n.emit(Event{Kind: EventBlocksPruned, Detail: fmt.Sprintf("deleted %d blocks (%d bytes) of artifacts no longer current; kept %d blocks of %d artifacts",
			res.Removed, res.Freed, res.Kept, len(roots))})
	}
	return nil
}

// heldArtifacts splits the held records into those to keep (not expired,
// the highest version held of their id) and those to drop.
func (n *Node) heldArtifacts() (keep, drop []heldArtifact, err error) {
	var all []heldArtifact
	newest := map[string]uint64{}
	err = eachRecord(n.db, heldPrefix, func(_ string, h heldArtifact) error {
		all = append(all, h)
		newest[h.ID] = max(newest[h.ID], h.Version)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading held artifacts: %w", err)
	}
	now := n.verifier.Now()
	for _, h := range all {
		if h.Expires.After(now) && h.Version == newest[h.ID] {
			keep = append(keep, h)
		} else {
			drop = append(drop, h)
		}
	}
	return keep, drop, nil
}

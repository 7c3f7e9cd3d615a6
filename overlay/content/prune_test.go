package content

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// Prune keeps every block a kept root reaches (a multi-block artifact, a
// one-block one, a block another artifact shares) and blocks stored since
// the cut-off, deletes the rest, and stops providing the roots it
// deleted; what it kept still reads back whole. Run on each store.
func TestPruneKeepsWhatKeptRootsReach(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { testPrune(t, k) })
	}
}

func testPrune(t *testing.T, k storeKind) {
	ctx := context.Background()
	store := k.open(t)
	svc, err := New(newHost(t, secTLS), nil, store, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := artifact(3*ChunkSize+100, 21)
	single, _ := artifact(ChunkSize/2, 22)
	// The dropped artifact shares its first chunk with the kept one.
	dropped := append(slices.Clone(kept[:ChunkSize]), bytes.Repeat([]byte{7}, 2*ChunkSize)...)
	add := func(data []byte) cid.Cid {
		c, err := svc.Add(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	keptRoot, singleRoot, droppedRoot := add(kept), add(single), add(dropped)
	before := allKeys(t, store)
	cutoff := time.Now().Add(time.Minute) // everything so far is older
	res, err := svc.Prune(ctx, []cid.Cid{keptRoot, singleRoot}, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	// dropped: its root and its second chunk's one distinct leaf (two
	// equal chunks are one block); its first chunk is the kept one's.
	var keptBytes int64
	for _, c := range allKeys(t, store) {
		n, err := store.Size(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		keptBytes += int64(n)
	}
	if res.KeptBytes != keptBytes {
		t.Errorf("Prune kept %d bytes, the store holds %d", res.KeptBytes, keptBytes)
	}
	if res.Removed != 2 || res.Kept != len(before)-2 || res.Forgotten != 1 {
		t.Errorf("Prune = %+v of %d blocks, want 2 removed (the dropped root and its own leaf), 1 root forgotten", res, len(before))
	}
	if slices.ContainsFunc(svc.Provider().Roots(), func(c cid.Cid) bool { return c.Equals(droppedRoot) }) {
		t.Error("the deleted root is still provided")
	}
	for _, r := range []struct {
		root cid.Cid
		data []byte
	}{{keptRoot, kept}, {singleRoot, single}} {
		if got := readArtifact(t, store, r.root, len(r.data)); !bytes.Equal(got, r.data) {
			t.Errorf("artifact %s reads back %d bytes, not its own %d after the prune", r.root, len(got), len(r.data))
		}
	}
	if has, _ := store.Has(ctx, droppedRoot); has {
		t.Error("the dropped artifact's root is still held")
	}
	// Stored since the cut-off: kept whatever the roots.
	if res, err := svc.Prune(ctx, nil, time.Now().Add(-time.Minute)); err != nil || res.Removed != 0 {
		t.Errorf("Prune with a cut-off before every block = %+v, %v; want nothing removed", res, err)
	}
}

// allKeys lists store's blocks.
func allKeys(t *testing.T, store Blockstore) []cid.Cid {
	t.Helper()
	keys, err := store.AllKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// readArtifact reads the artifact under root from store alone.
func readArtifact(t *testing.T, store Blockstore, root cid.Cid, size int) []byte {
	t.Helper()
	ctx := context.Background()
	leaves, _, err := resolveDAG(ctx, root, int64(size), func(ctx context.Context, cids []cid.Cid) ([][]byte, error) {
		out := make([][]byte, len(cids))
		for i, c := range cids {
			var err error
			if out[i], err = store.Get(ctx, c); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
	if err != nil {
		t.Fatalf("resolving %s: %v", root, err)
	}
	var b []byte
	for _, l := range leaves {
		data, err := store.Get(ctx, l.c)
		if err != nil {
			t.Fatalf("reading leaf %s: %v", l.c, err)
		}
		b = append(b, data...)
	}
	return b
}

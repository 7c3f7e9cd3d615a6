package testnet

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/patchnet/patchnet/overlay/content"
)

// The content scenario's origin bound counts the publisher's one copy as
// served blocks: at least the artifact's whole DAG as Import builds it
// (leaves and internal blocks) with a frame per block, and within a few
// kilobytes of the artifact.
func TestServedCopyBytes(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int64{1, content.ChunkSize, content.ChunkSize + 1, 17*content.ChunkSize + 5} {
		store := content.NewMemStore()
		if _, err := content.Import(ctx, bytes.NewReader(randomBytes(size)), store); err != nil {
			t.Fatal(err)
		}
		keys, err := store.AllKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dag := int64(0)
		for _, c := range keys {
			n, err := store.Size(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			dag += int64(n) + 4 // a status byte and the length's uvarint
		}
		got := ServedCopyBytes(size)
		if got < dag || got > size+(int64(len(keys))+1)*(blockWireBytes+content.LinksPerNode*dagLinkBytes) {
			t.Errorf("ServedCopyBytes(%d) = %d; the DAG with frames is %d bytes in %d blocks", size, got, dag, len(keys))
		}
	}
}

// randomBytes are size bytes no two leaves of which are alike (a store
// keeps equal blocks once).
func randomBytes(size int64) []byte {
	b := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

package content

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestContentRefusesUnadmittedPeer: with an admission check configured (a
// private zone), a peer the check refuses gets an error frame and no block,
// while an admitted peer is served.
func TestContentRefusesUnadmittedPeer(t *testing.T) {
	var admitted sync.Map
	var asked sync.Map
	cfg := func(int) Config {
		c := DefaultConfig()
		c.Admitted = func(ctx context.Context, p peer.ID) bool {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("admission asked without a deadline")
			}
			asked.Store(p, true)
			_, ok := admitted.Load(p)
			return ok
		}
		return c
	}
	nodes := newNet(t, 3, cfg)
	outsider, server, member := nodes[0], nodes[1], nodes[2]
	admitted.Store(member.h.ID(), true)
	data := bytes.Repeat([]byte("artifact block "), 1000)
	c := rawBlock(t, data)
	if err := server.store.PutVerified(context.Background(), c, data); err != nil {
		t.Fatal(err)
	}
	req := encodeRequest(nil, []cid.Cid{c})

	fr, _ := rawRequest(t, outsider, server, req)
	if fr.status != statusError || !strings.Contains(string(fr.data), "not admitted") {
		t.Errorf("unadmitted peer: status %d %q, want an error frame saying not admitted", fr.status, fr.data)
	}
	if _, ok := asked.Load(outsider.h.ID()); !ok {
		t.Error("the admission check was never asked about the outsider")
	}
	fr, _ = rawRequest(t, member, server, req)
	if fr.status != statusBlock || !bytes.Equal(fr.data, data) {
		t.Errorf("admitted peer: status %d, %d bytes; want the block", fr.status, len(fr.data))
	}
}

// TestContentServesEveryoneWithoutAdmissionCheck: nil Admitted (a public
// zone) keeps serving every peer.
func TestContentServesEveryoneWithoutAdmissionCheck(t *testing.T) {
	nodes := newNet(t, 2, defaultCfg)
	data := []byte("public block")
	c := rawBlock(t, data)
	if err := nodes[1].store.PutVerified(context.Background(), c, data); err != nil {
		t.Fatal(err)
	}
	fr, _ := rawRequest(t, nodes[0], nodes[1], encodeRequest(nil, []cid.Cid{c}))
	if fr.status != statusBlock || !bytes.Equal(fr.data, data) {
		t.Errorf("status %d, %d bytes; want the block", fr.status, len(fr.data))
	}
}

package content

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// roundRouter is content routing that answers each provider query with the
// records of its search round: rounds[0] for queries under the first
// search deadline the fetch sets, rounds[1] for those under the next one,
// and so on (the last list for every later round). A search round's
// queries share one deadline (fetch.searchRound), so the test knows which
// round asked without timing anything.
type roundRouter struct {
	rounds [][]peer.AddrInfo

	mu        sync.Mutex
	deadlines []time.Time
}

func (*roundRouter) Provide(context.Context, cid.Cid, bool) error { return nil }

func (r *roundRouter) FindProvidersAsync(ctx context.Context, _ cid.Cid, _ int) <-chan peer.AddrInfo {
	recs := r.rounds[min(r.round(ctx), len(r.rounds)-1)]
	ch := make(chan peer.AddrInfo, len(recs))
	for _, ai := range recs {
		ch <- ai
	}
	close(ch)
	return ch
}

// round numbers ctx's deadline in the order deadlines were first seen.
func (r *roundRouter) round(ctx context.Context) int {
	d, _ := ctx.Deadline()
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.IndexFunc(r.deadlines, d.Equal); i >= 0 {
		return i
	}
	r.deadlines = append(r.deadlines, d)
	return len(r.deadlines) - 1
}

// asked reports how many search rounds queried the router.
func (r *roundRouter) asked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.deadlines)
}

// fetchFrom fetches want on n, which must deliver data from sources.
func fetchFrom(t *testing.T, n *node, want Want, data []byte, sources ...Source) {
	t.Helper()
	got, res, err := fetchTo(t, n, want)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if diff := cmp.Diff(sources, res.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

// The only provider the first search finds serves two leaves and then
// lacks the rest, and is dropped; a second provider's record appears only
// after that search ended (in a zone, the agents that finished meanwhile).
// Since the peers delivered bytes during the search, the fetch searches
// again, finds the second provider and completes without the vendor's
// origin. Before, a transfer that lost its last provider after the search
// timed out went to the vendor URL for the rest at once.
func TestStarvedTransferSearchesAgain(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ProviderSearchTimeout = time.Second
	cfg.StreamsPerProvider = 1 // leaves are asked for in order, so the cut is known
	data, sum := artifact(6<<20+5, 21)
	partial, full := newStaticNode(t, peer.AddrInfo{}, cfg), newStaticNode(t, peer.AddrInfo{}, cfg)
	var root cid.Cid
	for _, n := range []*node{partial, full} {
		c, err := n.svc.Add(context.Background(), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		root = c
	}
	partial.h.SetStreamHandler(ProtocolID, partialHandler(partial.store, leavesOf(t, partial.store, root, int64(len(data)))[:2]))
	info := func(n *node) peer.AddrInfo { return peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()} }
	router := &roundRouter{rounds: [][]peer.AddrInfo{{info(partial)}, {info(partial), info(full)}}}
	fetcher := newRoutedNode(t, router, cfg)
	v := newVendor(t, data)

	fetchFrom(t, fetcher, Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{v.srv.URL}}, data, SourcePeers)
	if v.sent.Load() != 0 || router.asked() < 2 {
		t.Errorf("vendor sent %d bytes after %d search rounds; want none, after a second round", v.sent.Load(), router.asked())
	}
}

// A provider that lacked a block in one search round is asked again when a
// later round finds its record (it may have finished receiving), but not
// twice in one round; and a search round that brings no byte is the last,
// so a zone where nobody has the rest ends at the vendor's origin, which
// sends only what the peers did not.
func TestSearchAgainEndsWithoutProgress(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ProviderSearchTimeout = time.Second
	cfg.StreamsPerProvider = 1
	data, sum := artifact(6<<20+5, 22)
	partial := newStaticNode(t, peer.AddrInfo{}, cfg)
	root, err := partial.svc.Add(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	leaves := leavesOf(t, partial.store, root, int64(len(data)))
	var mu sync.Mutex
	requests := 0
	serve := partialHandler(partial.store, leaves[:2])
	partial.h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		mu.Lock()
		requests++
		mu.Unlock()
		serve(st)
	})
	router := &roundRouter{rounds: [][]peer.AddrInfo{{{ID: partial.h.ID(), Addrs: partial.h.Addrs()}}}}
	fetcher := newRoutedNode(t, router, cfg)
	v := newVendor(t, data)

	fetchFrom(t, fetcher, Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{v.srv.URL}}, data, SourcePeers, SourceVendor)
	if router.asked() != 2 {
		t.Errorf("%d search rounds; want 2 (the second brought nothing)", router.asked())
	}
	mu.Lock()
	defer mu.Unlock()
	// Round one: the root (its 7 leaves hang off it), leaves 0 and 1 and
	// the missing leaf 2, one request each (runs of one leaf at this
	// size); round two: leaf 2 once more. Retried at every query of a
	// round, it would be asked about three times a round.
	if requests != 5 {
		t.Errorf("the partial provider was asked %d times; want it retried once per round", requests)
	}
	if rest := int64(len(data) - leaves[0].size - leaves[1].size); v.sent.Load() != rest {
		t.Errorf("vendor sent %d bytes; want the %d the peers did not", v.sent.Load(), rest)
	}
}

package content

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"github.com/patchnet/patchnet/trust"
)

// countingStream counts what the server writes to one stream.
type countingStream struct {
	network.Stream
	n *atomic.Int64
}

func (c countingStream) Write(p []byte) (int, error) {
	n, err := c.Stream.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// countServed makes n's server count the bytes it sends, frames included.
func countServed(n *node) *atomic.Int64 {
	var sent atomic.Int64
	n.h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		n.svc.srv.handle(countingStream{Stream: st, n: &sent})
	})
	return &sent
}

// A seeder with a budget of one copy serves at most about one copy while
// every fetcher completes, from the seeder's one copy and then from each
// other: the vendor URL is dead, so a fetch left without peers would fail.
func TestSeedBudgetFetchersShare(t *testing.T) {
	const fetchers = 4
	nodes := newNet(t, fetchers+1, func(int) Config {
		c := DefaultConfig()
		c.ProviderSearchTimeout = time.Minute // room for the first fetchers to finish under load
		return c
	})
	seeder := nodes[fetchers]
	sent := countServed(seeder)
	data, sum := artifact(4<<20+777, 11)
	root := seed(t, data, nodes[0], seeder)

	want := Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{deadURL()}}
	results := make([]Result, fetchers)
	errs := make([]error, fetchers)
	var wg sync.WaitGroup
	for i := range fetchers {
		wg.Go(func() {
			var got []byte
			got, results[i], errs[i] = fetchTo(t, nodes[i], want)
			if errs[i] == nil && string(got) != string(data) {
				errs[i] = errors.New("wrong bytes")
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("fetcher %d: %v", i, err)
		}
		if diff := cmp.Diff([]Source{SourcePeers}, results[i].Sources); diff != "" {
			t.Errorf("fetcher %d sources (-want +got):\n%s", i, diff)
		}
		for _, p := range results[i].Providers {
			if p.Bad {
				t.Errorf("fetcher %d marked %s bad: %v", i, p.Peer, p.Err)
			}
		}
	}
	// One copy: the leaves and the root node, plus a few bytes of framing.
	if limit := int64(len(data)) + 16<<10; sent.Load() > limit {
		t.Errorf("seeder served %d bytes to %d fetchers, want at most %d (one copy)", sent.Load(), fetchers, limit)
	}
	t.Logf("seeder served %d bytes of a %d-byte artifact to %d fetchers", sent.Load(), len(data), fetchers)
}

// When the only provider is a seeder past its budget (and the peer it
// served no longer serves), the fetch still completes, from the vendor URL,
// and the seeder is not marked bad.
func TestBusySeederFallsBackToVendor(t *testing.T) {
	nodes := newNet(t, 3, func(i int) Config {
		c := DefaultConfig()
		c.ProviderSearchTimeout = 2 * time.Second
		c.Provide = i != 1 // the first fetcher keeps its copy to itself
		return c
	})
	seeder := nodes[2]
	data, sum := artifact(2<<20+5, 12)
	root := seed(t, data, nodes[0], seeder)
	v := newVendor(t, data)
	want := Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{v.srv.URL + "/a.deb"}}

	got, res, err := fetchTo(t, nodes[1], want)
	if err != nil {
		t.Fatalf("first fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if v.sent.Load() != 0 || !cmp.Equal(res.Sources, []Source{SourcePeers}) {
		t.Fatalf("first fetch used %v, vendor sent %d bytes; want the seeder's copy", res.Sources, v.sent.Load())
	}

	// The copy holder stops serving, so the seeder's hint leads nowhere.
	if err := nodes[1].svc.Close(); err != nil {
		t.Fatal(err)
	}

	got, res, err = fetchTo(t, nodes[0], want)
	if err != nil {
		t.Fatalf("second fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if diff := cmp.Diff([]Source{SourceVendor}, res.Sources); diff != "" {
		t.Errorf("second fetch sources (-want +got):\n%s", diff)
	}
	i := slices.IndexFunc(res.Providers, func(p ProviderStat) bool { return p.Peer == seeder.h.ID() })
	if i < 0 || !errors.Is(res.Providers[i].Err, ErrBusy) || res.Providers[i].Bad {
		t.Errorf("providers %+v, want the seeder dropped as busy, not bad", res.Providers)
	}
	if errors.Is(ErrBusy, trust.ErrUntrusted) {
		t.Errorf("ErrBusy matches trust.ErrUntrusted: a busy seeder would be taken for a forger")
	}
}

// A busy seeder names the peers it served a copy, and a refused fetcher
// gets the artifact from them at once, though they never provided it: the
// copy holder keeps its copy to itself in the DHT and the vendor is dead.
func TestBusySeederHintsCopyHolder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ProviderSearchTimeout = 2 * time.Second
	nodes := newNet(t, 2, func(int) Config { return cfg })
	seeder := nodes[1]
	data, sum := artifact(2<<20+9, 14)
	root := seed(t, data, nodes[0], seeder)
	// The copy holder finds the seeder without a DHT, and its provide
	// goes nowhere: no provider record names it.
	holder := newStaticNode(t, peer.AddrInfo{ID: seeder.h.ID(), Addrs: seeder.h.Addrs()}, cfg)
	want := Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{deadURL()}}
	if _, _, err := fetchTo(t, holder, want); err != nil {
		t.Fatalf("first fetch: %v", err)
	}
	got, res, err := fetchTo(t, nodes[0], want)
	if err != nil {
		t.Fatalf("second fetch: %v", err)
	}
	checkArtifact(t, got, data)
	var from []peer.ID
	for _, p := range res.Providers {
		if p.Bytes > 0 {
			from = append(from, p.Peer)
		}
	}
	if diff := cmp.Diff([]peer.ID{holder.h.ID()}, from); diff != "" {
		t.Errorf("providers that delivered (-want +got):\n%s", diff)
	}
}

// The budget's accounting, step by step.
func TestServeBudgetSpend(t *testing.T) {
	a, b2, other := rawCID(t, "a"), rawCID(t, "b"), rawCID(t, "other")
	p1, p2, p3 := peer.ID("p1"), peer.ID("p2"), peer.ID("p3")
	t0 := time.Unix(1000, 0)
	type step struct {
		p    peer.ID
		c    cid.Cid
		n    int
		at   time.Duration
		want bool
	}
	for _, tc := range []struct {
		name   string
		copies int
		steps  []step
	}{
		{"unbudgeted", 0, []step{{p1, a, 60, 0, true}, {p1, a, 60, 0, true}, {p2, a, 60, 0, true}}},
		{"one copy to one peer", 1, []step{
			{p1, a, 60, 0, true}, {p2, a, 60, 0, false}, {p1, b2, 40, 0, true},
			{p1, a, 60, 0, false}, // had its copy
			{p2, b2, 40, 0, false}, {p3, other, 1 << 20, 0, true},
		}},
		{"a peer's copy is bounded", 2, []step{
			{p1, a, 60, 0, true}, {p1, a, 60, 0, false}, {p2, a, 60, 0, true}, {p3, a, 60, 0, false},
		}},
		{"an idle slot lapses, its bytes stay spent", 1, []step{
			{p1, a, 60, 0, true}, {p2, b2, 40, SeedSlotIdle - 1, false},
			{p2, b2, 40, SeedSlotIdle, true}, {p1, b2, 40, SeedSlotIdle, false},
			{p3, a, 60, 3 * SeedSlotIdle, false}, // one copy's bytes spent
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newServeBudget(tc.copies)
			b.seed(map[cid.Cid]int{a: 60, b2: 40})
			for i, s := range tc.steps {
				if got := b.spend(s.p, s.c, s.n, t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d (%s, %d bytes at +%v): spend %v, want %v", i, s.p, s.n, s.at, got, s.want)
				}
			}
		})
	}
}

// Add puts every block of the artifact under the budget.
func TestAddSeedsBudget(t *testing.T) {
	nodes := newNet(t, 1, defaultCfg)
	data, _ := artifact(3<<20+1, 13)
	root, err := nodes[0].svc.Add(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	leaves := leavesOf(t, nodes[0].store, root, int64(len(data)))
	b := nodes[0].svc.budget
	for _, l := range append(leaves, leaf{c: root}) {
		if b.blocks[l.c] == nil {
			t.Errorf("block %s not under the seed budget", l.c)
		}
	}
	if got := b.blocks[root].total; got <= int64(len(data)) {
		t.Errorf("budget copy of %d bytes, want the artifact's %d and its DAG nodes", got, len(data))
	}
}

// rawCID names s as a raw block.
func rawCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

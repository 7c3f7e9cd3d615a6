package content

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/routing"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/patchnet/patchnet/trust"
)

// seedCfg searches the DHT briefly: these fetchers' routers find nothing,
// and the tests wait out the search before any vendor fallback.
func seedCfg() Config {
	c := DefaultConfig()
	c.ProviderSearchTimeout = time.Second
	return c
}

// newHolder starts a node that holds data (Add) but whose provider record
// reaches no DHT (its router stores nothing), and tells fetcher its
// addresses, as the overlay's connections do for a zone's supernodes.
func newHolder(t *testing.T, data []byte, fetcher *node) *node {
	t.Helper()
	return newHolderWith(t, data, fetcher, seedCfg())
}

// newHolderWith is newHolder with the holder's config.
func newHolderWith(t *testing.T, data []byte, fetcher *node, cfg Config) *node {
	t.Helper()
	h := newStaticNode(t, peer.AddrInfo{}, cfg)
	if _, err := h.svc.Add(context.Background(), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	fetcher.h.Peerstore().AddAddrs(h.h.ID(), h.h.Addrs(), peerstore.TempAddrTTL)
	return h
}

// randomPeer is a peer ID nobody runs: a seed no address is known for.
func randomPeer(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func providerIDs(res Result) []peer.ID {
	var ids []peer.ID
	for _, p := range res.Providers {
		ids = append(ids, p.Peer)
	}
	return ids
}

// A holder whose provider record no DHT has is found through the seeds
// alone: the fetcher's router finds nothing. Without it as a seed the
// fetch falls back to the vendor URL, or fails without one. A seed equal
// to this node is skipped (never dialled), and a service without a router
// fetches from seeds too.
func TestSeedsWithoutProviderRecord(t *testing.T) {
	data, sum := artifact(3<<20+17, 20)
	const (
		holderSeed = "holder"
		selfSeed   = "self"
	)
	for _, tc := range []struct {
		name     string
		seeds    []string
		vendor   bool
		noRouter bool
		sources  []Source
		used     []string // providers tried, in order
		fails    bool
	}{
		{name: "holder seeded", seeds: []string{holderSeed}, vendor: true, sources: []Source{SourcePeers}, used: []string{holderSeed}},
		{name: "no seeds: vendor", vendor: true, sources: []Source{SourceVendor}},
		{name: "no seeds, no vendor: fails", fails: true},
		{name: "self skipped", seeds: []string{selfSeed}, vendor: true, sources: []Source{SourceVendor}},
		{name: "self skipped, holder used", seeds: []string{selfSeed, holderSeed, holderSeed}, sources: []Source{SourcePeers}, used: []string{holderSeed}},
		{name: "no router", seeds: []string{holderSeed}, noRouter: true, sources: []Source{SourcePeers}, used: []string{holderSeed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newStaticNode(t, peer.AddrInfo{}, seedCfg())
			if tc.noRouter {
				svc, err := New(f.h, nil, f.store, seedCfg())
				if err != nil {
					t.Fatal(err)
				}
				f.svc = svc
			}
			holder := newHolder(t, data, f)
			ids := map[string]peer.ID{holderSeed: holder.h.ID(), selfSeed: f.h.ID()}
			root, err := ContentID(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			want := Want{CID: root, Size: int64(len(data)), SHA256: sum}
			for _, s := range tc.seeds {
				want.Seeds = append(want.Seeds, ids[s])
			}
			v := newVendor(t, data)
			if tc.vendor {
				want.VendorURLs = []string{v.srv.URL + "/a.deb"}
			}

			got, res, err := fetchTo(t, f, want)
			if tc.fails {
				if !errors.Is(err, ErrNoSource) {
					t.Fatalf("Fetch: %v, want ErrNoSource", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			checkArtifact(t, got, data)
			if diff := cmp.Diff(tc.sources, res.Sources); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
			var used []peer.ID
			for _, s := range tc.used {
				used = append(used, ids[s])
			}
			if diff := cmp.Diff(used, providerIDs(res)); diff != "" {
				t.Errorf("providers tried (-want +got):\n%s", diff)
			}
			if fromVendor := v.sent.Load() > 0; fromVendor != slices.Contains(tc.sources, SourceVendor) {
				t.Errorf("the vendor sent %d bytes; sources %v", v.sent.Load(), res.Sources)
			}
		})
	}
}

// A seed serving blocks that fail their CID is dropped as bad for the
// fetch, like any provider, and the artifact comes from another source: a
// second seed, a provider the DHT found, or the vendor URL.
func TestBadSeedDropped(t *testing.T) {
	data, sum := artifact(16<<20, 21)
	for _, tc := range []struct {
		name    string
		other   string // "seed", "dht" or "vendor"
		sources []Source
	}{
		{name: "second seed", other: "seed", sources: []Source{SourcePeers}},
		{name: "DHT provider", other: "dht", sources: []Source{SourcePeers}},
		{name: "vendor", other: "vendor", sources: []Source{SourceVendor}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f, bad, good *node
			want := Want{Size: int64(len(data)), SHA256: sum}
			if tc.other == "dht" {
				nodes := newNet(t, 3, func(int) Config { return seedCfg() })
				f, bad, good = nodes[0], nodes[2], nodes[1]
				want.CID = seed(t, data, f, good)
				// bad holds the blocks without a provider record.
				if _, err := Import(context.Background(), bytes.NewReader(data), bad.store); err != nil {
					t.Fatal(err)
				}
			} else {
				f = newStaticNode(t, peer.AddrInfo{}, seedCfg())
				bad = newHolder(t, data, f)
				c, err := ContentID(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				want.CID = c
			}
			bad.h.SetStreamHandler(ProtocolID, corruptingHandler(bad.store))
			want.Seeds = []peer.ID{bad.h.ID()}
			switch tc.other {
			case "seed":
				good = newHolder(t, data, f)
				want.Seeds = append(want.Seeds, good.h.ID())
			case "vendor":
				want.VendorURLs = []string{newVendor(t, data).srv.URL + "/a.deb"}
			}

			got, res, err := fetchTo(t, f, want)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			checkArtifact(t, got, data)
			if diff := cmp.Diff(tc.sources, res.Sources); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
			for _, p := range res.Providers {
				switch p.Peer {
				case bad.h.ID():
					if !p.Bad || !errors.Is(p.Err, ErrCorruptBlock) || !errors.Is(p.Err, trust.ErrUntrusted) || p.Bytes != 0 {
						t.Errorf("bad seed: Bad=%v Err=%v, %d bytes credited; want dropped as bad", p.Bad, p.Err, p.Bytes)
					}
				case f.h.ID():
					t.Errorf("fetcher used itself as a provider")
				default:
					if p.Bad || p.Err != nil {
						t.Errorf("honest provider %s: Bad=%v Err=%v", p.Peer, p.Bad, p.Err)
					}
				}
			}
			if !slices.Contains(providerIDs(res), bad.h.ID()) {
				t.Errorf("bad seed never tried: providers %v", providerIDs(res))
			}
		})
	}
}

// At most MaxSeeds seeds are used: a holder named after MaxSeeds peers
// nobody can reach is never dialled, and the fetch falls back to the
// vendor URL after the DHT search.
func TestSeedsBounded(t *testing.T) {
	data, sum := artifact(1<<20+5, 22)
	f := newStaticNode(t, peer.AddrInfo{}, seedCfg())
	holder := newHolder(t, data, f)
	root, err := ContentID(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var unreachable []peer.ID
	for range MaxSeeds {
		unreachable = append(unreachable, randomPeer(t))
	}
	v := newVendor(t, data)
	want := Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{v.srv.URL + "/a.deb"},
		Seeds: append(slices.Clone(unreachable), holder.h.ID())}

	got, res, err := fetchTo(t, f, want)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	// Seeds are tried in a random order: compare the sets.
	byID := cmpopts.SortSlices(func(a, b peer.ID) bool { return a < b })
	if diff := cmp.Diff(unreachable, providerIDs(res), byID); diff != "" {
		t.Errorf("providers tried (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Source{SourceVendor}, res.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

// A seed the fetcher has never met and knows no address of (a supernode
// whose co-signature was accepted, while this agent is connected to
// others) is located (Config.LocateSeed: here, as the node's locator
// does, one FIND_NODE request to a peer the fetcher is connected to) and
// dialled. The holder's provider record reaches no DHT and there is no
// vendor URL, so without the lookup the fetch has no source at all. A
// provider record naming the holder without addresses is not located:
// anyone can publish those.
func TestSeedWithoutAddressLocated(t *testing.T) {
	var middle *node
	locate := func(from *node) func(context.Context, peer.ID) (peer.AddrInfo, error) {
		return func(ctx context.Context, p peer.ID) (peer.AddrInfo, error) {
			pm, err := dhtpb.NewProtocolMessenger(from.dht.MessageSender())
			if err != nil {
				return peer.AddrInfo{}, err
			}
			infos, err := pm.GetClosestPeers(ctx, middle.h.ID(), p)
			for _, ai := range infos {
				if ai.ID == p {
					return *ai, nil
				}
			}
			return peer.AddrInfo{}, errors.Join(err, routing.ErrNotFound)
		}
	}
	var nodes []*node
	nodes = newNet(t, 2, func(i int) Config {
		c := seedCfg()
		if i == 0 {
			c.LocateSeed = func(ctx context.Context, p peer.ID) (peer.AddrInfo, error) { return locate(nodes[0])(ctx, p) }
		}
		return c
	})
	fetcher := nodes[0]
	middle = nodes[1]
	data, sum := artifact(2<<20+5, 21)
	holder := newStaticNode(t, peer.AddrInfo{}, seedCfg())
	root, err := holder.svc.Add(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// The holder is connected to the middle node, as a zone's supernodes
	// are to each other; it never meets the fetcher.
	if err := holder.h.Connect(context.Background(), peer.AddrInfo{ID: middle.h.ID(), Addrs: middle.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the middle node to learn the holder's addresses", func() bool {
		return len(middle.h.Peerstore().Addrs(holder.h.ID())) > 0
	})
	if n := len(fetcher.h.Peerstore().Addrs(holder.h.ID())); n != 0 {
		t.Fatalf("the fetcher knows %d addresses of the holder before the fetch", n)
	}

	cfg := seedCfg()
	cfg.LocateSeed = locate(fetcher)
	recFetcher := newRoutedNode(t, recordsWithoutAddrs{IpfsDHT: fetcher.dht, ids: []peer.ID{holder.h.ID()}}, cfg)
	want := Want{CID: root, Size: int64(len(data)), SHA256: sum}
	if _, _, err := fetchTo(t, recFetcher, want); !errors.Is(err, ErrNoSource) {
		t.Errorf("fetch from a record without addresses: %v, want ErrNoSource", err)
	}

	want.Seeds = []peer.ID{holder.h.ID()}
	got, res, err := fetchTo(t, fetcher, want)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if diff := cmp.Diff([]peer.ID{holder.h.ID()}, providerIDs(res)); diff != "" {
		t.Errorf("providers tried (-want +got):\n%s", diff)
	}
}

// recordsWithoutAddrs is a DHT whose provider search finds ids, without
// addresses, whatever the content.
type recordsWithoutAddrs struct {
	*dht.IpfsDHT
	ids []peer.ID
}

func (r recordsWithoutAddrs) FindProvidersAsync(context.Context, cid.Cid, int) <-chan peer.AddrInfo {
	ch := make(chan peer.AddrInfo, len(r.ids))
	for _, id := range r.ids {
		ch <- peer.AddrInfo{ID: id}
	}
	close(ch)
	return ch
}

// A seed that arrives while the fetch runs (WithLateSeeds: a co-signer
// heard after acceptance) is used like one the Want named: the holder,
// known to no router and named by no Want, delivers the artifact. This
// node and repeats arriving late are skipped.
func TestLateSeedsUsed(t *testing.T) {
	data, sum := artifact(2<<20+9, 22)
	f := newStaticNode(t, peer.AddrInfo{}, seedCfg())
	holder := newHolder(t, data, f)
	root, err := ContentID(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	late := make(chan peer.ID, 3)
	late <- f.h.ID()
	late <- holder.h.ID()
	late <- holder.h.ID()
	got, res, err := fetchTo(t, f, Want{CID: root, Size: int64(len(data)), SHA256: sum}, WithLateSeeds(late))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if diff := cmp.Diff([]peer.ID{holder.h.ID()}, providerIDs(res)); diff != "" {
		t.Errorf("providers tried (-want +got):\n%s", diff)
	}
}

// blackhole accepts TCP connections and never answers: a libp2p dial to it
// hangs in its handshake until the dialler gives up.
type blackhole struct {
	addr ma.Multiaddr
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	b := &blackhole{}
	if b.addr, err = manet.FromNetAddr(l.Addr()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() { // after the listener's: no connection comes later
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c) // until the dialler hangs up
		}
	}()
	return b
}

// TestDAGNodesFromAConnectedSeed: a DAG's nodes, which no other provider
// can take over (there is no work stealing before the leaves are known),
// are asked of a provider this node is connected to before one it would
// have to dial. Seed A comes first and its handshakes hang; the holder is
// connected. The fetch must end before A's dial times out; asked of A
// first, it waits for that and drops A for it. (A's leaves, claimed while
// it dials, are stolen by the holder after stealAfter, and A's requests
// called off, which is no drop.)
func TestDAGNodesFromAConnectedSeed(t *testing.T) {
	cfg := seedCfg()
	cfg.stealAfter = 100 * time.Millisecond
	f := newStaticNode(t, peer.AddrInfo{}, cfg)
	data, sum := artifact(3*ChunkSize+5, 31)
	holder := newHolder(t, data, f)
	hole := newBlackhole(t)
	a := randomPeer(t)
	f.h.Peerstore().AddAddrs(a, []ma.Multiaddr{hole.addr}, peerstore.TempAddrTTL)
	root, err := ContentID(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.h.Connect(context.Background(), peer.AddrInfo{ID: holder.h.ID()}); err != nil {
		t.Fatal(err)
	}
	got, res, err := fetchTo(t, f, Want{CID: root, Size: int64(len(data)), SHA256: sum, Seeds: []peer.ID{a, holder.h.ID()}})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	for _, p := range res.Providers {
		if p.Peer != a {
			continue
		}
		if p.Bytes != 0 {
			t.Errorf("the hanging seed delivered %d bytes", p.Bytes)
		}
		if timedOut(p.Err) {
			t.Fatalf("the hanging seed was dropped when its dial timed out (%v): the fetch waited for it", p.Err)
		}
	}
}

// The provider asked for DAG nodes is a connected one though another,
// still to be dialled, came first; with none connected, the first; none
// once every provider was dropped and the search ended.
func TestFirstGoodPrefersConnected(t *testing.T) {
	f := newStaticNode(t, peer.AddrInfo{}, seedCfg())
	holder := newHolder(t, []byte("held"), f)
	if err := f.h.Connect(context.Background(), peer.AddrInfo{ID: holder.h.ID()}); err != nil {
		t.Fatal(err)
	}
	a, b := randomPeer(t), randomPeer(t)
	ctx := t.Context()
	pick := func(ids ...peer.ID) (*transfer, peer.ID) {
		tr := newTransfer(ctx, f.h, MaxProviders, 1, nil)
		for _, id := range ids {
			tr.addProvider(ctx, id)
		}
		tr.searchDone()
		s, err := tr.firstGood(ctx)
		if err != nil {
			return tr, ""
		}
		return tr, s.id
	}
	if _, got := pick(a, holder.h.ID(), b); got != holder.h.ID() {
		t.Errorf("picked %v, want the connected holder", got)
	}
	tr, got := pick(a, b)
	if got != a {
		t.Errorf("none connected: picked %v, want the first", got)
	}
	for _, s := range tr.providers {
		tr.drop(s, errors.New("gone"))
	}
	if s, err := tr.firstGood(ctx); err == nil {
		t.Errorf("every provider dropped: picked %v, want an error", s.id)
	}
}

// timedOut reports whether err is a deadline or timeout's.
func timedOut(err error) bool {
	var to interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &to) && to.Timeout()
}

package content

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// vendor serves data like an origin web server (Range supported) and
// counts the bytes it sent.
type vendor struct {
	srv    *httptest.Server
	sent   atomic.Int64
	ranges []string
	mu     sync.Mutex
}

func newVendor(t *testing.T, data []byte) *vendor {
	v := &vendor{}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.ranges = append(v.ranges, r.Header.Get("Range"))
		v.mu.Unlock()
		http.ServeContent(&countingResponse{ResponseWriter: w, n: &v.sent}, r, "a.deb", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(v.srv.Close)
	return v
}

type countingResponse struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingResponse) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// deadURL returns the URL of a server that is no longer listening.
func deadURL() string {
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL + "/a.deb"
	s.Close()
	return u
}

func notFoundURL(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(s.Close)
	return s.URL + "/a.deb"
}

func fetchTo(t *testing.T, n *node, want Want, opts ...FetchOption) ([]byte, Result, error) {
	t.Helper()
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := n.svc.Fetch(ctx, want, &buf, opts...)
	return buf.Bytes(), res, err
}

func checkArtifact(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("fetched %d bytes (sha %x), want %d bytes (sha %x)", len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

func TestFetchFromThreeProvidersOriginDown(t *testing.T) {
	nodes := newNet(t, 4, defaultCfg)
	data, sum := artifact(9<<20+12345, 1)
	root := seed(t, data, nodes[0], nodes[1:]...)

	var last Progress
	got, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum,
		VendorURLs: []string{deadURL(), notFoundURL(t)}}, WithProgress(func(p Progress) { last = p }))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if diff := cmp.Diff([]Source{SourcePeers}, res.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	var total int64
	for _, p := range res.Providers {
		total += p.Bytes
		if p.Err != nil {
			t.Errorf("provider %s dropped: %v", p.Peer, p.Err)
		}
	}
	if total != int64(len(data)) || last.Done != int64(len(data)) || last.Total != int64(len(data)) {
		t.Errorf("providers delivered %d bytes, progress ended at %d/%d; want %d", total, last.Done, last.Total, len(data))
	}
	if !res.Provided {
		t.Errorf("fetched artifact not provided")
	}
}

func TestFallbackToVendorURL(t *testing.T) {
	nodes := newNet(t, 2, func(i int) Config {
		c := DefaultConfig()
		c.ProviderSearchTimeout = 2 * time.Second // the search finds nobody
		return c
	})
	data, sum := artifact(4<<20+99, 5)
	root, err := ContentID(bytes.NewReader(data)) // announced, but nobody holds it yet
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t, data)
	got, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum,
		VendorURLs: []string{deadURL(), v.srv.URL + "/a.deb"}})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if diff := cmp.Diff([]Source{SourceVendor}, res.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	if !res.Provided {
		t.Fatalf("artifact fetched from the vendor was not kept and provided")
	}
	// The next node fetches from the first, not the origin: egress stays flat.
	sent := v.sent.Load()
	waitFor(t, "fetcher's provider record", func() bool {
		ais, _ := nodes[1].dht.FindProviders(context.Background(), root)
		return slices.ContainsFunc(ais, func(ai peer.AddrInfo) bool { return ai.ID == nodes[0].h.ID() })
	})
	got, res, err = fetchTo(t, nodes[1], Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{v.srv.URL}})
	if err != nil {
		t.Fatalf("second Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if v.sent.Load() != sent || !slices.Equal(res.Sources, []Source{SourcePeers}) {
		t.Errorf("second fetch used %v and the vendor sent %d more bytes", res.Sources, v.sent.Load()-sent)
	}
}

func TestPeersWhenVendorDown(t *testing.T) {
	nodes := newNet(t, 2, defaultCfg)
	data, sum := artifact(5<<20, 6)
	root := seed(t, data, nodes[0], nodes[1])
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	got, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{down.URL}})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if !slices.Equal(res.Sources, []Source{SourcePeers}) {
		t.Errorf("sources %v, want peers only", res.Sources)
	}
}

// partialHandler serves the DAG and only the leaves in keep, answering
// "missing" for the others.
func partialHandler(store Blockstore, keep []leaf) network.StreamHandler {
	return func(st network.Stream) {
		defer st.Close()
		cids, err := decodeRequest(bufio.NewReader(st))
		if err != nil {
			return
		}
		for _, c := range cids {
			data, err := store.Get(context.Background(), c)
			kept := slices.ContainsFunc(keep, func(l leaf) bool { return l.c.Equals(c) })
			if err != nil || c.Prefix().Codec == cid.Raw && !kept {
				writeMissingFrame(st)
				continue
			}
			writeBlockFrame(st, data)
		}
	}
}

// leavesOf resolves root's DAG from a local store.
func leavesOf(t *testing.T, store Blockstore, root cid.Cid, size int64) []leaf {
	t.Helper()
	leaves, _, err := resolveDAG(context.Background(), root, size, storeNodes(store))
	if err != nil {
		t.Fatalf("resolving DAG: %v", err)
	}
	return leaves
}

// A provider serves the DAG and the first leaves (kept), then lacks the
// rest: the vendor sends only what the peers did not, and Sources lists
// the peers only when they contributed bytes.
func TestPeersFailMidwayVendorResumes(t *testing.T) {
	for _, tc := range []struct {
		kept int
		want []Source
	}{{2, []Source{SourcePeers, SourceVendor}}, {0, []Source{SourceVendor}}} {
		nodes := newNet(t, 2, func(int) Config {
			c := DefaultConfig()
			c.StreamsPerProvider = 1 // leaves are asked for in order, so the cut is known
			// Two search rounds (the second finds no one new) before the vendor.
			c.ProviderSearchTimeout = time.Second
			return c
		})
		data, sum := artifact(6<<20+5, 7)
		root := seed(t, data, nodes[0], nodes[1])
		leaves := leavesOf(t, nodes[1].store, root, int64(len(data)))
		nodes[1].h.SetStreamHandler(ProtocolID, partialHandler(nodes[1].store, leaves[:tc.kept]))
		v := newVendor(t, data)
		got, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{v.srv.URL}})
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		checkArtifact(t, got, data)
		if diff := cmp.Diff(tc.want, res.Sources); diff != "" {
			t.Errorf("%d leaves from peers: sources (-want +got):\n%s", tc.kept, diff)
		}
		resumeAt := ""
		if tc.kept > 0 {
			resumeAt = "bytes=" + strconv.Itoa(leaves[0].size+leaves[1].size) + "-"
		}
		if !slices.Equal(v.ranges, []string{resumeAt}) {
			t.Errorf("vendor sent %d of %d bytes for ranges %q; want one, %q", v.sent.Load(), len(data), v.ranges, resumeAt)
		}
		if res.Provided && tc.kept > 0 {
			t.Errorf("artifact assembled from peers and vendor was provided without all blocks")
		}
	}
}

func TestProviderOptOut(t *testing.T) {
	for _, optOut := range []bool{true, false} {
		nodes := newNet(t, 2, defaultCfg)
		data, sum := artifact(1<<20+3, 8)
		root := seed(t, data, nodes[0], nodes[1])
		// The fetcher's provides are counted on their way to the real DHT.
		r := &countingRouter{node: nodes[0], count: map[cid.Cid]int{}}
		cfg := DefaultConfig()
		cfg.Provide = !optOut
		svc, err := New(nodes[0].h, r, nodes[0].store, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		res, err := svc.Fetch(context.Background(), Want{CID: root, Size: int64(len(data)), SHA256: sum}, &buf)
		if err != nil {
			t.Fatalf("Fetch (opted out: %v): %v", optOut, err)
		}
		svc.Provider().wait()
		r.mu.Lock()
		provides := r.count[root]
		r.mu.Unlock()
		if res.Provided == optOut || (provides == 0) != optOut {
			t.Errorf("opted out: %v; Provided=%v and %d provides reached the DHT", optOut, res.Provided, provides)
		}
		// No seeds: the fetch searched, and says so whether it keeps or not.
		if !res.Searched {
			t.Errorf("opted out: %v; a fetch without seeds reports Searched false", optOut)
		}
		// An opted-out node keeps nothing it fetched, so it serves nothing.
		if fr := askRoot(t, nodes[1].h, nodes[0].h.ID(), ProtocolID, root); (fr.status == statusBlock) == optOut {
			t.Errorf("opted out: %v; asked for the root it fetched, it answered status %d", optOut, fr.status)
		}
	}
}

// countingRouter counts Provide calls reaching the real DHT; its provider
// searches return fakes records of peers without addresses before the
// DHT's own.
type countingRouter struct {
	*node
	mu    sync.Mutex
	count map[cid.Cid]int
	finds int // provider searches started
	fakes int
}

func (c *countingRouter) Provide(ctx context.Context, k cid.Cid, b bool) error {
	c.mu.Lock()
	c.count[k]++
	c.mu.Unlock()
	return c.dht.Provide(ctx, k, b)
}

func (c *countingRouter) FindProvidersAsync(ctx context.Context, k cid.Cid, n int) <-chan peer.AddrInfo {
	c.mu.Lock()
	c.finds++
	c.mu.Unlock()
	if c.fakes == 0 {
		return c.dht.FindProvidersAsync(ctx, k, n)
	}
	out := make(chan peer.AddrInfo)
	go func() {
		defer close(out)
		for range c.fakes {
			_, pub, _ := crypto.GenerateEd25519Key(rand.Reader)
			id, _ := peer.IDFromPublicKey(pub)
			select {
			case out <- peer.AddrInfo{ID: id}:
			case <-ctx.Done():
				return
			}
		}
		for ai := range c.dht.FindProvidersAsync(ctx, k, n) {
			select {
			case out <- ai:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func TestReprovideBeforeExpiry(t *testing.T) {
	if ReprovideInterval >= 48*time.Hour {
		t.Fatalf("ReprovideInterval %v does not beat the 48h record validity", ReprovideInterval)
	}
	nodes := newNet(t, 2, defaultCfg)
	r := &countingRouter{node: nodes[1], count: map[cid.Cid]int{}}
	p := NewProvider(r, 20*time.Millisecond, true)
	data, _ := artifact(100, 9)
	root, _ := ContentID(bytes.NewReader(data))
	if err := p.Provide(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitFor(t, "three re-provides", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.count[root] >= 4
	})
	ais, _ := nodes[0].dht.FindProviders(context.Background(), root)
	if !slices.ContainsFunc(ais, func(ai peer.AddrInfo) bool { return ai.ID == nodes[1].h.ID() }) {
		t.Errorf("re-provided root not found through the DHT")
	}
}

func TestDeepDAGFetched(t *testing.T) {
	nodes := newNet(t, 3, defaultCfg)
	data, sum := artifact(64<<10+100, 10)
	var root cid.Cid
	for _, p := range nodes[1:] {
		// 1 KiB chunks, 4 links a node: 65 leaves under 4 levels.
		c, err := buildWith(context.Background(), bytes.NewReader(data), &storeDAG{ctx: context.Background(), store: p.store}, 1024, 4)
		if err != nil {
			t.Fatal(err)
		}
		root = c
		if err := p.svc.Provider().Provide(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	got, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if !res.Provided {
		t.Errorf("deep DAG fetched but not provided")
	}
}

func TestSlowProviderWorkStolen(t *testing.T) {
	nodes := newNet(t, 3, func(i int) Config {
		c := DefaultConfig()
		if i == 1 {
			c.sendRate = 256 << 10 // 256 KiB/s: a 1 MiB block takes 4 s
		}
		return c
	})
	data, sum := artifact(8<<20, 12)
	root := seed(t, data, nodes[0], nodes[1:]...)
	got, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	by := map[peer.ID]int64{}
	for _, p := range res.Providers {
		by[p.Peer] = p.Bytes
	}
	if slow, fast := by[nodes[1].h.ID()], by[nodes[2].h.ID()]; slow >= fast {
		t.Errorf("slow provider delivered %d bytes, fast one %d: slow work was not taken over", slow, fast)
	}
}

// Two fast providers of a one-block artifact: the idle one leaves the
// block to the one that claimed it while that run is younger than
// StealAfter, so the providers serve one copy between them, not two (a
// duplicate requested at once doubled what the seeds served).
func TestYoungRunNotStolen(t *testing.T) {
	nodes := newNet(t, 3, func(i int) Config {
		c := DefaultConfig()
		c.stealAfter = time.Hour // the fetch is over long before: no copy may be stolen
		return c
	})
	data, sum := artifact(ChunkSize, 14)
	root := seed(t, data, nodes[0], nodes[1:]...)
	got, _, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if served := nodes[1].svc.Served() + nodes[2].svc.Served(); served > int64(len(data))+4096 {
		t.Errorf("the providers served %d bytes of a %d-byte artifact: a young run was requested twice", served, len(data))
	}
}

// A provider that will finish its run soon at its steady pace keeps it:
// the fast provider that joins while it sends finds the run past
// StealAfter but about done, and requests nothing. (With a steal at
// StealAfter alone, it requested the block again and served a copy.)
func TestNearlyDoneRunNotStolen(t *testing.T) {
	fcfg := seedCfg()
	fcfg.stealAfter = 2 * time.Second
	f := newStaticNode(t, peer.AddrInfo{}, fcfg)
	slowCfg := seedCfg()
	// The first 512 KiB go out at once (the limiter's burst), the rest at
	// 220 KiB/s: the block in ~2.3 s, about 0.15 s left at 2 s.
	slowCfg.sendRate = 220 << 10
	data, sum := artifact(ChunkSize, 15)
	slow, fast := newHolderWith(t, data, f, slowCfg), newHolder(t, data, f)
	root, err := ContentID(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := fetchTo(t, f, Want{CID: root, Size: int64(len(data)), SHA256: sum, Seeds: []peer.ID{slow.h.ID()}},
		WithLateSeeds(seedOnceAsked(t, f, slow, fast)))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if n := fast.svc.Served(); n != 0 {
		t.Errorf("the fast seed served %d bytes of a block the slow one was about to finish", n)
	}
}

// seedOnceAsked yields late's ID as a late seed of f's fetch once f has
// a block request open to asked (an agent hears the other co-signers
// after its fetch began).
func seedOnceAsked(t *testing.T, f, asked, late *node) <-chan peer.ID {
	ch := make(chan peer.ID, 1)
	go func() {
		for !requesting(f, asked) {
			select {
			case <-t.Context().Done():
				return
			case <-time.After(10 * time.Millisecond): // polling interval
			}
		}
		ch <- late.h.ID()
	}()
	return ch
}

// requesting reports whether f has a block request open to p.
func requesting(f, p *node) bool {
	for _, c := range f.h.Network().ConnsToPeer(p.h.ID()) {
		for _, st := range c.GetStreams() {
			if st.Protocol() == ProtocolID || st.Protocol() == ProtocolIDv1 {
				return true
			}
		}
	}
	return false
}

func TestFetchFromLocalStore(t *testing.T) {
	nodes := newNet(t, 3, defaultCfg)
	data, sum := artifact(3<<20+1, 13)
	root := seed(t, data, nodes[0], nodes[1], nodes[2])
	want := Want{CID: root, Size: int64(len(data)), SHA256: sum}

	got, res, err := fetchTo(t, nodes[1], want)
	if err != nil || !slices.Equal(res.Sources, []Source{SourceLocal}) {
		t.Fatalf("Fetch of a held artifact: sources %v, err %v; want local", res.Sources, err)
	}
	checkArtifact(t, got, data)

	// Rot in a held block: this fetch fails, the block is dropped, and the
	// next fetch goes to the network.
	leaves := leavesOf(t, nodes[1].store, root, want.Size)
	nodes[1].store.(*MemStore).corrupt(leaves[1].c)
	if _, _, err := fetchTo(t, nodes[1], want); !errors.Is(err, ErrCorruptBlock) {
		t.Fatalf("Fetch over a rotten held block: %v, want ErrCorruptBlock", err)
	}
	got, res, err = fetchTo(t, nodes[1], want)
	if err != nil || !slices.Equal(res.Sources, []Source{SourcePeers}) {
		t.Fatalf("Fetch after dropping the rotten block: sources %v, err %v; want peers", res.Sources, err)
	}
	checkArtifact(t, got, data)
}

// A provider whose uplink is shared among many fetchers delivers a block
// slowly but steadily: it is kept as long as bytes keep coming, and only a
// silence of the stall timeout drops it. With a deadline per whole block,
// this fetch (a 1 MiB block at 256 KiB/s, 4 s, against a 1 s stall
// timeout) dropped its only provider and failed.
func TestSlowButSteadyProviderKept(t *testing.T) {
	nodes := newNet(t, 2, func(i int) Config {
		c := DefaultConfig()
		c.stall = time.Second
		if i == 1 {
			c.sendRate = 256 << 10
		}
		return c
	})
	data, sum := artifact(2<<20, 14)
	root := seed(t, data, nodes[0], nodes[1])
	got, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum})
	if err != nil {
		t.Fatalf("Fetch from a slow, steady provider: %v", err)
	}
	checkArtifact(t, got, data)
	for _, p := range res.Providers {
		if p.Err != nil {
			t.Errorf("provider %s dropped: %v", p.Peer, p.Err)
		}
	}
}

// A provider that keeps a block coming just fast enough to beat the stall
// timeout, but far below MinProviderRate, is dropped once the block is
// overdue. Without the per-block floor this fetch (a 1 MiB block, its
// last 512 KiB at 32 KiB/s, 16 s, against a 2 s stall timeout and a
// 256 KiB/s floor: due in 6 s) waited out the drip.
func TestDrippingProviderDropped(t *testing.T) {
	nodes := newNet(t, 2, func(i int) Config {
		c := DefaultConfig()
		c.stall, c.minRate = 2*time.Second, 256<<10
		if i == 1 {
			// The server's own pace would cut the drip at the same due
			// time, and on a loaded machine its reset could arrive first
			// (CI saw it): give it all the time, so the fetcher's deadline
			// is what ends the block.
			c.sendRate = 32 << 10
			c.stall, c.minRate = time.Minute, 1
		}
		return c
	})
	data, sum := artifact(1<<20, 15)
	root := seed(t, data, nodes[0], nodes[1])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sink bytes.Buffer
	res, err := nodes[0].svc.Fetch(ctx, Want{CID: root, Size: int64(len(data)), SHA256: sum}, &sink)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch from a dripping provider: %v; want it dropped as overdue", err)
	}
	var timeout interface{ Timeout() bool }
	if len(res.Providers) != 1 || !errors.As(res.Providers[0].Err, &timeout) || !timeout.Timeout() {
		t.Errorf("providers %+v, want the dripping one dropped for its deadline", res.Providers)
	}
}

// TestRequestProtectsConnections: both ends keep the connection manager
// from trimming their connection while a block request runs, and release
// it after: with trimming working, a transfer longer than the manager's
// grace period was cut at its next trim.
func TestRequestProtectsConnections(t *testing.T) {
	nodes := newNet(t, 2, func(i int) Config {
		c := DefaultConfig()
		if i == 1 {
			c.sendRate = 256 << 10 // the second leaf is still being served while the first arrives
		}
		return c
	})
	fetcher, provider := nodes[0], nodes[1]
	data, _ := artifact(2*ChunkSize, 21)
	root := seed(t, data, fetcher, provider)
	leaves := leavesOf(t, provider.store, root, int64(len(data)))
	cids, sizes := make([]cid.Cid, len(leaves)), make([]int, len(leaves))
	for i, l := range leaves {
		cids[i], sizes[i] = l.c, l.size
	}
	// The fetcher's request takes the next tag, the provider's answer the
	// one after (the DHT protects these peers too, under its own tag).
	n := requestTags.Load()
	tags := map[*node]string{fetcher: fmt.Sprintf("%s-%d", RequestProtectTag, n+1), provider: fmt.Sprintf("%s-%d", RequestProtectTag, n+2)}
	protected := func(by, of *node) bool { return by.h.ConnManager().IsProtected(of.h.ID(), tags[by]) }
	err := requestBlocks(context.Background(), fetcher.h, provider.h.ID(), cids, sizes, newBufferPool(ChunkSize), DefaultConfig().pace(), nil,
		func(i int, _ []byte) error {
			if i == 0 && (!protected(fetcher, provider) || !protected(provider, fetcher)) {
				t.Errorf("mid-request: fetcher protects its provider %v, provider its fetcher %v; want both",
					protected(fetcher, provider), protected(provider, fetcher))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both ends to release the protection", func() bool {
		return !protected(fetcher, provider) && !protected(provider, fetcher)
	})
}

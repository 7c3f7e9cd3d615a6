package content

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"
	ma "github.com/multiformats/go-multiaddr"
)

// staticRouter is content routing without a DHT: every root's one provider
// is the peer it names, and providing is a no-op.
type staticRouter struct{ ai peer.AddrInfo }

func (staticRouter) Provide(context.Context, cid.Cid, bool) error { return nil }

func (r staticRouter) FindProvidersAsync(context.Context, cid.Cid, int) <-chan peer.AddrInfo {
	ch := make(chan peer.AddrInfo, 1)
	if r.ai.ID != "" {
		ch <- r.ai
	}
	close(ch)
	return ch
}

// newStaticNode starts a content node on loopback whose only route to any
// artifact is provider (none if empty): no DHT, so a peer it was not told
// about has no addresses.
func newStaticNode(t *testing.T, provider peer.AddrInfo, cfg Config) *node {
	t.Helper()
	return newRoutedNode(t, staticRouter{provider}, cfg)
}

// newRoutedNode starts a content node on loopback that finds providers
// through router alone.
func newRoutedNode(t *testing.T, router routing.ContentRouting, cfg Config) *node {
	t.Helper()
	h := newHost(t, secTLS)
	store := NewMemStore()
	svc, err := New(h, router, store, cfg)
	if err != nil {
		t.Fatalf("starting content service: %v", err)
	}
	return &node{h: h, store: store, svc: svc}
}

// A publisher with a serve budget of one copy serves fetcher A, then
// answers fetcher B busy with A's addresses; B, which has no DHT and never
// met A, dials A from the frame alone and completes (the vendor is dead).
// Without the addresses B cannot reach A and the fetch fails.
func TestBusyHintAddrsReachCopyHolder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SeedServeCopies = 1
	// Short: without the hint's addresses B fails after this (and one
	// BusySearchRounds) instead of a minute.
	cfg.ProviderSearchTimeout = time.Second
	pub := newStaticNode(t, peer.AddrInfo{}, cfg)
	route := peer.AddrInfo{ID: pub.h.ID(), Addrs: pub.h.Addrs()}
	a, b := newStaticNode(t, route, cfg), newStaticNode(t, route, cfg)

	data, sum := artifact(2<<20+7, 16)
	root, err := pub.svc.Add(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{deadURL()}}
	if _, res, err := fetchTo(t, a, want); err != nil || !cmp.Equal(res.Sources, []Source{SourcePeers}) {
		t.Fatalf("A's fetch: sources %v, %v; want the publisher's copy", res.Sources, err)
	}
	if got := b.h.Peerstore().Addrs(a.h.ID()); len(got) != 0 {
		t.Fatalf("B knows A's addresses %v before the busy frame", got)
	}

	got, res, err := fetchTo(t, b, want)
	if err != nil {
		t.Fatalf("B's fetch: %v", err)
	}
	checkArtifact(t, got, data)
	var delivered []peer.ID
	for _, p := range res.Providers {
		if p.Bytes > 0 {
			delivered = append(delivered, p.Peer)
		}
		if p.Peer == pub.h.ID() && (!errors.Is(p.Err, ErrBusy) || p.Bad) {
			t.Errorf("publisher dropped with %v (bad %v), want busy", p.Err, p.Bad)
		}
	}
	if diff := cmp.Diff([]peer.ID{a.h.ID()}, delivered); diff != "" {
		t.Errorf("providers that delivered (-want +got):\n%s", diff)
	}
}

// A hinted copy holder that still lacks the blocks when first asked (the
// seeder named it on sending the last block, before it arrived) is asked
// again after a pause instead of dropped for the fetch.
func TestHintedHolderAskedAgain(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ProviderSearchTimeout = time.Second
	pub := newStaticNode(t, peer.AddrInfo{}, cfg)
	route := peer.AddrInfo{ID: pub.h.ID(), Addrs: pub.h.Addrs()}
	a, b := newStaticNode(t, route, cfg), newStaticNode(t, route, cfg)
	data, sum := artifact(1<<20+11, 18)
	root, err := pub.svc.Add(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{deadURL()}}
	if _, _, err := fetchTo(t, a, want); err != nil {
		t.Fatalf("A's fetch: %v", err)
	}
	// A answers its first two requests as a peer still receiving would.
	var asked atomic.Int32
	a.h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		if asked.Add(1) > 2 {
			a.svc.srv.handle(st)
			return
		}
		if _, err := decodeRequest(bufio.NewReader(st)); err == nil {
			_ = writeMissingFrame(st)
		}
		_ = st.Close()
	})
	got, res, err := fetchTo(t, b, want)
	if err != nil {
		t.Fatalf("B's fetch: %v", err)
	}
	checkArtifact(t, got, data)
	var fromA int64
	for _, p := range res.Providers {
		if p.Peer == a.h.ID() {
			fromA += p.Bytes
		}
	}
	if fromA != int64(len(data)) || asked.Load() < 3 {
		t.Errorf("A delivered %d of %d bytes after %d requests; want all, after the missing answers", fromA, len(data), asked.Load())
	}
}

// The busy frame a server writes depends on the stream's protocol: a 1.0.0
// peer gets IDs only (statusBusy), a 1.1.0 peer the copy holder's listen
// addresses as identify gave them (statusBusyAddrs).
func TestBusyFramePerProtocol(t *testing.T) {
	cfg := DefaultConfig()
	pub := newStaticNode(t, peer.AddrInfo{}, cfg)
	route := peer.AddrInfo{ID: pub.h.ID(), Addrs: pub.h.Addrs()}
	a, b := newStaticNode(t, route, cfg), newStaticNode(t, route, cfg)
	data, sum := artifact(1<<20+3, 17)
	root, err := pub.svc.Add(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fetchTo(t, a, Want{CID: root, Size: int64(len(data)), SHA256: sum}); err != nil {
		t.Fatalf("A's fetch: %v", err)
	}
	if err := b.h.Connect(context.Background(), route); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		proto  protocol.ID
		status byte
		want   []busyHint
	}{
		{ProtocolIDv1, statusBusy, []busyHint{{ID: a.h.ID()}}},
		{ProtocolID, statusBusyAddrs, []busyHint{{ID: a.h.ID(), Addrs: a.h.Addrs()}}},
	} {
		t.Run(string(tc.proto), func(t *testing.T) {
			fr := askRoot(t, b.h, pub.h.ID(), tc.proto, root)
			if fr.status != tc.status {
				t.Fatalf("status %d, want %d", fr.status, tc.status)
			}
			got, err := decodeBusyBody(fr.data, fr.status == statusBusyAddrs)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("hints (-want +got):\n%s", diff)
			}
		})
	}
}

// askRoot requests root from p over proto and returns the first frame.
func askRoot(t *testing.T, h host.Host, p peer.ID, proto protocol.ID, root cid.Cid) frame {
	t.Helper()
	st, err := h.NewStream(context.Background(), p, proto)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	if _, err := st.Write(encodeRequest(nil, []cid.Cid{root})); err != nil {
		t.Fatal(err)
	}
	_ = st.CloseWrite()
	fr, err := readFrame(bufio.NewReader(st), -1, nil)
	if err != nil {
		t.Fatalf("reading frame: %v", err)
	}
	return fr
}

// Addresses come from the peerstore (identify's listen addresses), the
// observed connection address only when the peerstore has none.
func TestHintAddrsSource(t *testing.T) {
	srv, q := newHost(t, secTLS), newHost(t, secTLS)
	if err := q.Connect(context.Background(), peer.AddrInfo{ID: srv.ID(), Addrs: srv.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "identify", func() bool { return len(srv.Peerstore().Addrs(q.ID())) > 0 })
	loop := addrs(t, "/ip4/127.0.0.1/tcp/1")[0]
	sorted := func(as []ma.Multiaddr) []ma.Multiaddr {
		out := slices.Clone(as)
		slices.SortFunc(out, func(a, b ma.Multiaddr) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
		return out[:min(len(out), MaxBusyHintAddrs)]
	}
	if diff := cmp.Diff(sorted(q.Addrs()), hintAddrs(srv, q.ID(), loop)); diff != "" {
		t.Errorf("from the peerstore (-want +got):\n%s", diff)
	}
	observed := srv.Network().ConnsToPeer(q.ID())[0].RemoteMultiaddr()
	if slices.ContainsFunc(q.Addrs(), observed.Equal) {
		t.Fatalf("observed address %s is a listen address: the test cannot tell them apart", observed)
	}
	srv.Peerstore().ClearAddrs(q.ID())
	if diff := cmp.Diff([]ma.Multiaddr{observed}, hintAddrs(srv, q.ID(), loop)); diff != "" {
		t.Errorf("with an empty peerstore (-want +got):\n%s", diff)
	}
}

func TestInScope(t *testing.T) {
	all := addrs(t, "/ip4/127.0.0.1/tcp/1", "/ip4/10.0.0.1/tcp/1", "/ip4/192.168.1.1/udp/1/quic-v1",
		"/ip4/8.8.8.8/tcp/1", "/ip6/::1/tcp/1", "/ip6/2a00:1450::1/tcp/1")
	for _, tc := range []struct {
		remote string
		want   []ma.Multiaddr
	}{
		{"/ip4/127.0.0.1/tcp/9", all},
		{"/ip6/::1/tcp/9", all},
		{"/ip4/10.1.2.3/tcp/9", []ma.Multiaddr{all[1], all[2], all[3], all[5]}},
		{"/ip4/1.1.1.1/tcp/9", []ma.Multiaddr{all[3], all[5]}},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, inScope(all, addrs(t, tc.remote)[0])); diff != "" {
				t.Errorf("in scope (-want +got):\n%s", diff)
			}
		})
	}
}

// A fetcher takes hinted addresses into its peerstore for TempAddrTTL
// only, ignores hints naming itself or the busy server, and drops
// addresses out of scope or naming another peer.
func TestAddHints(t *testing.T) {
	h := newHost(t, secTLS)
	server, p1, p2 := testPeerID(t, 1), testPeerID(t, 2), testPeerID(t, 3)
	via := addrs(t, "/ip4/10.9.9.9/tcp/4001")[0]
	tr := newTransfer(context.Background(), h, MaxProviders, 1, nil)
	tr.addHints(server, via, []busyHint{
		{ID: h.ID(), Addrs: addrs(t, "/ip4/10.0.0.1/tcp/1")},
		{ID: server, Addrs: addrs(t, "/ip4/10.0.0.2/tcp/1")},
		{ID: p1, Addrs: addrs(t, "/ip4/10.0.0.3/tcp/1", "/ip4/127.0.0.1/tcp/1", "/ip4/10.0.0.4/tcp/1/p2p/"+p2.String())},
		{ID: p2, Addrs: addrs(t, "/ip4/10.0.0.5/tcp/1/p2p/"+p2.String())},
	})
	var providers []peer.ID
	for _, s := range tr.stats() {
		providers = append(providers, s.Peer)
	}
	if diff := cmp.Diff([]peer.ID{p1, p2}, providers); diff != "" {
		t.Errorf("providers added (-want +got):\n%s", diff)
	}
	ps := h.Peerstore()
	for _, tc := range []struct {
		p    peer.ID
		want []ma.Multiaddr
	}{
		{server, nil},
		{p1, addrs(t, "/ip4/10.0.0.3/tcp/1")},
		{p2, addrs(t, "/ip4/10.0.0.5/tcp/1")},
	} {
		if diff := cmp.Diff(tc.want, ps.Addrs(tc.p), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s's addresses (-want +got):\n%s", tc.p, diff)
		}
	}
	// Expiring TempAddrTTL addresses leaves none: none was kept longer.
	ps.UpdateAddrs(p1, peerstore.TempAddrTTL, 0)
	ps.UpdateAddrs(p2, peerstore.TempAddrTTL, 0)
	if got := append(ps.Addrs(p1), ps.Addrs(p2)...); len(got) != 0 {
		t.Errorf("addresses kept beyond TempAddrTTL: %v", got)
	}
}

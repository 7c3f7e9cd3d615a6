package overlay

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

func TestPeerIDIsCertificates(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	n := startNode(t, pki, nodeOpts{})
	if n.ID() != n.member.PeerID() {
		t.Errorf("host peer ID %s, certificate names %s", n.ID(), n.member.PeerID())
	}
	for _, a := range n.Addrs() {
		if !strings.HasSuffix(a.String(), "/p2p/"+n.ID().String()) || !strings.HasPrefix(a.String(), "/ip4/127.0.0.1/tcp/") {
			t.Errorf("address %s, want loopback TCP ending in /p2p/<id>", a)
		}
	}
}

func TestDHTServerModeWithZonePrefix(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.DHT.Mode = DHTModeServer
	a := startNode(t, pki, nodeOpts{cfg: cfg})
	b := startNode(t, pki, nodeOpts{cfg: withBootstrap(cfg, a)})
	c := startNode(t, pki, nodeOpts{cfg: withBootstrap(cfg, a)})
	// Server mode on a closed network: every node's routing table fills from
	// its bootstrap peer alone (auto mode would leave them empty).
	for _, n := range []*testNode{a, b, c} {
		waitFor(t, 15*time.Second, "routing table", func() bool { return n.DHT().RoutingTable().Size() >= 1 })
	}
	protos, _ := a.Host().Peerstore().GetProtocols(b.ID())
	want := "/patchnet/" + testZone + "/kad/1.0.0"
	found := false
	for _, p := range protos {
		found = found || string(p) == want
	}
	if !found {
		t.Errorf("b speaks %v, want the zone's DHT protocol %s", protos, want)
	}
	// c provides a key; b, which never talked to c, finds it through a.
	h, _ := multihash.Sum([]byte("artifact"), multihash.SHA2_256, -1)
	key := cid.NewCidV1(cid.Raw, h)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.DHT().Provide(ctx, key, true); err != nil {
		t.Fatalf("providing: %v", err)
	}
	waitFor(t, 15*time.Second, "b finds c as provider", func() bool {
		for p := range b.DHT().FindProvidersAsync(ctx, key, 1) {
			if p.ID == c.ID() {
				return true
			}
		}
		return false
	})
}

func TestCloseReleasesGoroutines(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	// Warm up libp2p's process-wide goroutines before counting.
	warm := startNode(t, pki, nodeOpts{})
	warm.Close()
	before := settledGoroutines()
	a := startNode(t, pki, nodeOpts{})
	b := startNode(t, pki, nodeOpts{cfg: withBootstrap(testConfig(), a)})
	collect(t, a.Overlay, a.AnnounceTopic())
	collect(t, b.Overlay, b.AnnounceTopic())
	waitMesh(t, a.Overlay, a.AnnounceTopic(), 1)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	waitFor(t, 10*time.Second, "goroutines to wind down", func() bool { return runtime.NumGoroutine() <= before+2 })
}

// settledGoroutines waits until the goroutine count stops changing.
func settledGoroutines() int {
	last := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		now := runtime.NumGoroutine()
		if now == last {
			return now
		}
		last = now
	}
	return last
}

func TestAnnounceAddrsReplaceListenAddrs(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.AnnounceAddrs = []string{"/ip4/127.0.0.9/tcp/4001"}
	n := startNode(t, pki, nodeOpts{cfg: cfg})
	addrs := n.Host().Addrs()
	if len(addrs) != 1 || addrs[0].String() != cfg.AnnounceAddrs[0] {
		t.Errorf("announced %v, want %v", addrs, cfg.AnnounceAddrs)
	}
}

// TestConnLimitsAboveHighWater: the resource manager must let a node hold
// more connections than the connection manager's high water mark, or the
// connection manager never trims and a bootstrap node refuses a zone's
// newcomers for good — the ~64-agent cliff of issue 10, where go-libp2p's
// defaults scaled to the lab's 128 MiB allowed 64 inbound connections
// against a high mark of 128.
func TestConnLimitsAboveHighWater(t *testing.T) {
	for name, mem := range map[string]int64{"minimum": MinResourceMemory, "lab": 2 * MinResourceMemory, "default": DefaultResourceMemory} {
		r := DefaultConfig().Resources
		r.MaxMemory = mem
		sys := resourceLimits(r).ToPartialLimitConfig().System
		for dir, got := range map[string]int{"inbound": int(sys.ConnsInbound), "outbound": int(sys.ConnsOutbound), "total": int(sys.Conns)} {
			if got <= r.ConnHigh {
				t.Errorf("%s memory: system %s connection limit %d, want above the high water mark %d", name, dir, got, r.ConnHigh)
			}
		}
	}
}

// TestZoneSignersProtectedFromTrimming: a node keeps its connections to
// the zone's verified supernodes and publishers out of the connection
// manager's trimming (a publisher that lost a supernode under a crowd of
// dialling agents saw 2 of 3 and nothing redialled it), and only those:
// an agent, or a supernode of another zone, is trimmed like anyone.
func TestZoneSignersProtectedFromTrimming(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone, "elsewhere")
	self := startNode(t, pki, nodeOpts{})
	peers := map[string]struct {
		node *testNode
		want bool
	}{
		"supernode":               {startNode(t, pki, nodeOpts{member: pki.Issue(t, testZone, trust.RoleSupernode)}), true},
		"publisher":               {startNode(t, pki, nodeOpts{member: pki.Issue(t, testZone, trust.RolePublisher)}), true},
		"agent":                   {startNode(t, pki, nodeOpts{}), false},
		"supernode of other zone": {startNode(t, pki, nodeOpts{member: pki.Issue(t, "elsewhere", trust.RoleSupernode)}), false},
	}
	cm := self.Host().ConnManager()
	for name, p := range peers {
		connect(t, self.Overlay, p.node.Overlay)
		waitFor(t, 10*time.Second, name+" settled", func() bool {
			return self.auth.settled(p.node.ID()) && (!p.want || cm.IsProtected(p.node.ID(), ProtectTag))
		})
	}
	for name, p := range peers {
		if got := cm.IsProtected(p.node.ID(), ProtectTag); got != p.want {
			t.Errorf("%s: protected %v, want %v", name, got, p.want)
		}
	}
	sn := peers["supernode"].node
	if err := self.Host().Network().ClosePeer(sn.ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "supernode unprotected after disconnect", func() bool {
		return !cm.IsProtected(sn.ID(), ProtectTag)
	})
}

// TestDHTNeighboursAreTrimmed: the DHT's routing-table peers count toward
// the connection manager's water marks like any tagged peer. kad-dht
// protects the peers of its two widest buckets, most of a small zone, so
// an agent with low marks never trimmed and sat at its resource manager's
// connection cap (refusing the agents that came to fetch from it).
func TestDHTNeighboursAreTrimmed(t *testing.T) {
	const peers = 10 // within the resource manager's cap, twice the high mark
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.DHT.Mode = DHTModeServer
	lean := cfg
	lean.Resources.ConnLow, lean.Resources.ConnHigh = 3, 5
	self := startNode(t, pki, nodeOpts{cfg: lean})
	for range peers {
		connect(t, self.Overlay, startNode(t, pki, nodeOpts{cfg: cfg}).Overlay)
	}
	rt := self.DHT().RoutingTable()
	waitFor(t, 15*time.Second, "every peer in the routing table", func() bool { return rt.Size() == peers })
	cm := self.Host().ConnManager()
	for _, p := range rt.ListPeers() {
		if cm.IsProtected(p, "kbucket") {
			t.Errorf("routing-table peer %s is protected from trimming", p)
		}
		if info := cm.GetTagInfo(p); info == nil || info.Tags["kbucket"] != DHTPeerTagValue {
			t.Errorf("routing-table peer %s: tags %+v, want kbucket=%d", p, info, DHTPeerTagValue)
		}
	}
	waitFor(t, 3*ConnGracePeriod, "connections trimmed to the high water mark", func() bool {
		return len(self.Host().Network().Conns()) <= lean.Resources.ConnHigh
	})
	if n := rt.Size(); n != peers {
		t.Errorf("routing table holds %d peers after trimming, want all %d", n, peers)
	}
}

// TestJoiningNodeFindsPeersWithoutBucketRefresh: a node that comes up
// with one bootstrap peer finds more through one lookup of its own key,
// and runs no routing-table refresh at start — kad-dht's, a lookup per
// bucket twice over, connected each agent to a hundred peers as it came
// up, most of a 1,000-agent zone's set-up CPU. A bucket's refresh time is
// set by any lookup into it; the node's own key falls in none.
func TestJoiningNodeFindsPeersWithoutBucketRefresh(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.DHT.Mode = DHTModeServer
	hub := startNode(t, pki, nodeOpts{cfg: cfg})
	for range 2 * DiscoveryPeers {
		startNode(t, pki, nodeOpts{cfg: withBootstrap(cfg, hub)})
	}
	waitFor(t, 30*time.Second, "the zone on the hub", func() bool { return len(hub.Host().Network().Peers()) >= 2*DiscoveryPeers })
	// At the production bootstrap interval: one lookup at start, the
	// next (were it needed) an interval later.
	late := withBootstrap(cfg, hub)
	late.BootstrapInterval = duration.Duration(DefaultBootstrapInterval)
	self := startNode(t, pki, nodeOpts{cfg: late})
	waitFor(t, 30*time.Second, "the newcomer to find peers beyond its bootstrap peer", func() bool {
		return len(self.Host().Network().Peers()) >= DiscoveryPeers
	})
	if n := self.Stats().DiscoveryLookups; n != 1 {
		t.Errorf("the newcomer ran %d discovery lookups to find its peers, want its first one to do", n)
	}
	// A refresh would start as the first peers enter the routing table and
	// take milliseconds on loopback: watch for one over a few seconds.
	rt := self.DHT().RoutingTable()
	for deadline := time.Now().Add(startRefreshWindow); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for cpl, at := range rt.GetTrackedCplsForRefresh() {
			if !at.IsZero() {
				t.Fatalf("bucket %d refreshed at %v: a routing-table refresh ran at start", cpl, at)
			}
		}
	}
}

// startRefreshWindow is how long TestJoiningNodeFindsPeersWithoutBucketRefresh
// watches for a refresh that must not come.
const startRefreshWindow = 5 * time.Second

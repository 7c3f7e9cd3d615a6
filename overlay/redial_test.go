package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/internal/freeport"
	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// TestRedialBootstrapReachesAcrossAPartition: a node with enough peers on
// its own side of a partition never redials its bootstrap peer from the
// bootstrap loop (that waits for fewer than MinPeers), and a dial that
// failed during the cut leaves a backoff on the peer's address. Once the
// bootstrap peer is back, RedialBootstrap (which the node calls while it
// hears fewer than k supernodes) reaches it anyway.
func TestRedialBootstrapReachesAcrossAPartition(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	bootMember := pki.Issue(t, testZone)
	boot := startNode(t, pki, nodeOpts{member: bootMember})
	bootAddr := boot.Addrs()[0]

	cfg := testConfig()
	cfg.BootstrapPeers = []string{bootAddr.String()}
	a := startNode(t, pki, nodeOpts{cfg: cfg})
	waitFor(t, 10*time.Second, "a connected to its bootstrap peer", func() bool { return connected(a.Overlay, boot.Overlay) })
	for range MinPeers {
		connect(t, a.Overlay, startNode(t, pki, nodeOpts{}).Overlay)
	}

	// The cut: the bootstrap peer goes dark, and a dial fails meanwhile.
	info := boot.AddrInfo()
	boot.Close()
	waitFor(t, 10*time.Second, "a disconnected from the bootstrap peer", func() bool { return !connected(a.Overlay, boot.Overlay) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Connect(ctx, info); err == nil {
		t.Fatal("dialled the closed bootstrap peer")
	}

	// The heal: the same peer at the same address.
	back := cfg
	back.BootstrapPeers = nil
	transport, _ := peer.SplitAddr(bootAddr)
	back.ListenAddrs = []string{transport.String()}
	again := startNode(t, pki, nodeOpts{cfg: back, member: bootMember})
	a.RedialBootstrap()
	waitFor(t, 10*time.Second, "a reconnected to its bootstrap peer", func() bool { return connected(a.Overlay, again.Overlay) })
}

// TestSilentSupernodeRelinked: a supernode connected but absent from the
// supernodes' topic (its gossip stream lost while its protected connection
// stays up) gets a fresh connection; one on the topic keeps its own.
func TestSilentSupernodeRelinked(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	silent := startNode(t, pki, nodeOpts{member: pki.Issue(t, testZone, trust.RoleSupernode)})
	heard := startNode(t, pki, nodeOpts{member: pki.Issue(t, testZone, trust.RoleSupernode)})
	if _, err := heard.Subscribe(heard.SupernodesTopic()); err != nil {
		t.Fatal(err)
	}
	relinkGraceOverride.Store(int64(time.Millisecond))
	t.Cleanup(func() { relinkGraceOverride.Store(0) })
	a := startNode(t, pki, nodeOpts{})
	connect(t, a.Overlay, silent.Overlay)
	connect(t, a.Overlay, heard.Overlay)
	waitTopicPeers(t, a.Overlay, a.SupernodesTopic(), 1)
	first := func(o *testNode) string {
		cs := a.Host().Network().ConnsToPeer(o.ID())
		if len(cs) == 0 {
			return ""
		}
		return cs[0].ID()
	}
	silentConn, heardConn := first(silent), first(heard)
	waitFor(t, 20*time.Second, "a fresh connection to the silent supernode", func() bool {
		c := first(silent)
		return c != "" && c != silentConn
	})
	if got := first(heard); got != heardConn {
		t.Errorf("the supernode on the topic was relinked too: connection %s, was %s", got, heardConn)
	}
}

// TestSilentSupernodeRelinkWaitsForTransfer: a silent supernode that this
// node is fetching an artifact from keeps its connection (closing it would
// cut the transfer) for as long as the transfer's stream is open, and gets
// its fresh connection once the stream ends.
func TestSilentSupernodeRelinkWaitsForTransfer(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	silent := startNode(t, pki, nodeOpts{member: pki.Issue(t, testZone, trust.RoleSupernode)})
	silent.Host().SetStreamHandler(content.ProtocolID, func(s network.Stream) {
		_, _ = io.Copy(io.Discard, s) // a transfer, open until the fetcher ends it
		s.Close()
	})
	relinkGraceOverride.Store(int64(time.Millisecond))
	t.Cleanup(func() { relinkGraceOverride.Store(0) })
	a := startNode(t, pki, nodeOpts{})
	connect(t, a.Overlay, silent.Overlay)
	conn := func() string {
		if cs := a.Host().Network().ConnsToPeer(silent.ID()); len(cs) > 0 {
			return cs[0].ID()
		}
		return ""
	}
	was := conn()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := a.Host().NewStream(ctx, silent.ID(), content.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "two relink rounds deferred for the transfer, or a relink", func() bool {
		st := a.Stats()
		return st.RelinksDeferred >= 2 || st.Relinks > 0
	})
	if got, n := conn(), a.Stats().Relinks; got != was || n != 0 {
		t.Fatalf("relinked during the transfer: connection %s (was %s), %d relinks", got, was, n)
	}
	s.Close()
	waitFor(t, 20*time.Second, "a fresh connection once the transfer ended", func() bool {
		c := conn()
		return c != "" && c != was && a.Stats().Relinks > 0
	})
}

// TestIsolatedNodeRejoinsAndDiscovers: while a node's bootstrap peer is
// unreachable (a host booting before its network, a supernode's address
// not routed yet), every round of its bootstrap loop really dials, past
// the swarm's dial backoff (5 s after the first failure, growing to 5
// minutes), and it runs no DHT lookup, which with nobody to ask would
// only double its discovery pause; once the peer is reachable it rejoins
// and finds peers beyond it. The zone around the bootstrap peer formed
// first, each node with DiscoveryPeers peers, so none of them looks for
// peers and dials the newcomer itself.
func TestIsolatedNodeRejoinsAndDiscovers(t *testing.T) {
	const rounds = 7 // at the 1 s interval, past the first failure's 5 s backoff
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.DHT.Mode = DHTModeServer
	boot := startNode(t, pki, nodeOpts{cfg: cfg})
	var zone []*testNode
	for range 2 * DiscoveryPeers {
		zone = append(zone, startNode(t, pki, nodeOpts{cfg: withBootstrap(cfg, boot)}))
	}
	waitFor(t, 30*time.Second, "the zone to form", func() bool {
		return !slices.ContainsFunc(zone, func(n *testNode) bool { return len(n.Host().Network().Peers()) < DiscoveryPeers })
	})

	// The newcomer reaches the bootstrap peer through a forwarder that
	// does not listen while it is cut off: connections are refused.
	port := freeport.Get(t)
	late := cfg
	late.BootstrapPeers = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, boot.ID())}
	late.BootstrapInterval = duration.Duration(time.Second)
	var mu sync.Mutex
	var failed []error
	a := startNode(t, pki, nodeOpts{cfg: late, onBootstrap: func(r BootstrapRound) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, r.Err)
	}})
	waitFor(t, time.Minute, fmt.Sprintf("%d rounds of bootstrap dials", rounds), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(failed) >= rounds
	})
	mu.Lock()
	for i, err := range failed {
		if errors.Is(err, swarm.ErrDialBackoff) {
			t.Errorf("bootstrap round %d was refused by the dial backoff instead of dialling: %v", i+1, err)
		}
	}
	mu.Unlock()
	if n := a.Stats().DiscoveryLookups; n != 0 {
		t.Errorf("%d discovery lookups while no peer was connected, want none", n)
	}

	forward(t, port, boot.Addrs()[0])
	waitFor(t, time.Minute, "the isolated node to rejoin and find peers beyond its bootstrap peer", func() bool {
		return connected(a.Overlay, boot.Overlay) && len(a.Host().Network().Peers()) >= MinPeers
	})
}

// forward relays every TCP connection to 127.0.0.1:port to the TCP
// multiaddr to, for the test's life.
func forward(t *testing.T, port int, to ma.Multiaddr) {
	t.Helper()
	_, target, err := manet.DialArgs(to)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer d.Close()
				go io.Copy(d, c)
				io.Copy(c, d)
			}()
		}
	}()
}

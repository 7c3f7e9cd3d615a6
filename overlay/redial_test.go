package overlay

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

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

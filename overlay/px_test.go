package overlay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// TestPrunedAgentsFindEachOtherThroughSupernodePX: agents that bootstrap
// off one supernode, with no DHT to look further, end up connected to
// each other — the supernode's mesh overflows, it prunes with peer
// exchange, and agents follow PX from a verified supernode of their zone.
// Without PX (or with PX from supernodes ignored) they stay the
// supernode's alone, the ~64-agent cliff's cause in a zone of any size.
func TestPrunedAgentsFindEachOtherThroughSupernodePX(t *testing.T) {
	_, as := overflowingSupernode(t, testConfig())
	// Connected first, meshed at a heartbeat after: wait for both. An
	// agent whose peer-exchange dials all failed (a loaded machine) is
	// pruned again with PX only after gossipsub's prune backoff (1 min):
	// leave room for two more rounds.
	var stuck []string
	deadline := time.Now().Add(3*time.Minute + 10*time.Second)
	for {
		stuck = stuck[:0]
		for i, a := range as {
			if peers, mesh := len(a.Host().Network().Peers()), len(a.MeshPeers(a.AnnounceTopic())); peers < 2 || mesh == 0 {
				stuck = append(stuck, fmt.Sprintf("agent %d: %d peers, %d in its mesh, stats %+v", i, peers, mesh, a.Stats()))
			}
		}
		if len(stuck) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents not connected to another agent and meshed:\n%s", strings.Join(stuck, "\n"))
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestPeerExchangeDeclinedAtLowWaterMark: the host gossipsub dials peer
// exchange through follows it while the node has fewer connections than
// its low water mark and declines it from there, opening nothing: each
// such dial would be a handshake and an admission for the connection
// manager to undo at its next trim.
func TestPeerExchangeDeclinedAtLowWaterMark(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	self := startNode(t, pki, nodeOpts{})
	a, b := startNode(t, pki, nodeOpts{}), startNode(t, pki, nodeOpts{})
	h := pxHost{Host: self.Host(), low: 2, declined: new(atomic.Uint64)}
	ctx := context.Background()
	if err := h.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}); err != nil {
		t.Fatalf("below the low mark: %v", err)
	}
	connect(t, self.Overlay, startNode(t, pki, nodeOpts{}).Overlay)
	if err := h.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); !errors.Is(err, errEnoughPeers) {
		t.Errorf("at the low mark: %v, want errEnoughPeers", err)
	}
	if connected(self.Overlay, b.Overlay) {
		t.Error("connected to the peer exchange's peer at the low mark")
	}
}

// TestPrunedAgentAtLowWaterMarkDeclinesPeerExchange: the same zone as
// TestPrunedAgentsFindEachOtherThroughSupernodePX, but every agent's low
// water mark is one connection, which its supernode connection fills: the
// agents the supernode prunes decline the peers its peer exchange names
// (Stats.PXDeclined) and stay connected to the supernode alone. With
// gossipsub on the plain host they would dial them.
func TestPrunedAgentAtLowWaterMarkDeclinesPeerExchange(t *testing.T) {
	lean := testConfig()
	lean.Resources.ConnLow, lean.Resources.ConnHigh = 1, 4
	sn, as := overflowingSupernode(t, lean)
	waitFor(t, 60*time.Second, "a pruned agent declining the supernode's peer exchange", func() bool {
		for _, a := range as {
			if a.Stats().PXDeclined > 0 {
				return true
			}
		}
		return false
	})
	for i, a := range as {
		if peers := a.Host().Network().Peers(); len(peers) != 1 || peers[0] != sn.ID() {
			t.Errorf("agent %d is connected to %d peers, want the supernode alone", i, len(peers))
		}
	}
}

// overflowingSupernode starts a supernode and 16 agents of config
// agentCfg bootstrapping off it alone (no DHT): more than gossipsub's Dhi
// (12), so the supernode's announce mesh overflows and it prunes, with
// peer exchange.
//
// The supernode joins the topic last, once it knows every agent is on it:
// its prune then names all of them. Joined first, on a loaded machine (the
// race run beside other packages) it pruned once a dozen agents had come,
// and the last ones, arriving to a mesh with room, stayed its alone, named
// to nobody.
func overflowingSupernode(t *testing.T, agentCfg Config) (*testNode, []*testNode) {
	const agents = 16
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.Supernode = true
	sn := startNode(t, pki, nodeOpts{cfg: cfg, member: pki.Issue(t, testZone, trust.RoleSupernode)})
	var as []*testNode
	for range agents {
		a := startNode(t, pki, nodeOpts{cfg: agentCfg})
		collect(t, a.Overlay, a.AnnounceTopic())
		connect(t, a.Overlay, sn.Overlay)
		as = append(as, a)
	}
	waitFor(t, 60*time.Second, "the supernode to know every agent on the announce topic", func() bool {
		return len(sn.TopicPeers(sn.AnnounceTopic())) == agents
	})
	collect(t, sn.Overlay, sn.AnnounceTopic())
	collect(t, sn.Overlay, sn.SupernodesTopic()) // as a node's supernode does
	return sn, as
}

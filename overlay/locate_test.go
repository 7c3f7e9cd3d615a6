package overlay

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// LocatePeer finds a peer's addresses by asking the zone's signers the
// node is connected to: an agent connected to a supernode locates another
// agent the supernode is connected to, without connecting to it. An agent
// connected only to another agent that knows the target does not: agents
// are not asked (they are anyone, and a walk through them is what
// LocatePeer avoids).
func TestLocatePeerAsksConnectedSigners(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	withDHT := testConfig()
	withDHT.DHT.Mode = DHTModeServer
	sncfg := withDHT
	sncfg.Supernode = true
	sn := startNode(t, pki, nodeOpts{cfg: sncfg, member: pki.Issue(t, testZone, trust.RoleSupernode)})
	target, viaSigner, viaAgent, relay := startNode(t, pki, nodeOpts{cfg: withDHT}), startNode(t, pki, nodeOpts{cfg: withDHT}),
		startNode(t, pki, nodeOpts{cfg: withDHT}), startNode(t, pki, nodeOpts{cfg: withDHT})
	connect(t, target.Overlay, sn.Overlay)
	connect(t, viaSigner.Overlay, sn.Overlay)
	connect(t, target.Overlay, relay.Overlay)
	connect(t, viaAgent.Overlay, relay.Overlay)
	for _, n := range []*testNode{viaSigner, viaAgent} {
		waitFor(t, 30*time.Second, "admission of the peer asked", func() bool {
			return slices.ContainsFunc(n.Peers(), func(pi PeerInfo) bool { return pi.Verified })
		})
	}
	waitFor(t, 30*time.Second, "the peers asked to learn the target's addresses", func() bool {
		return len(sn.Host().Peerstore().Addrs(target.ID())) > 0 && len(relay.Host().Peerstore().Addrs(target.ID())) > 0
	})

	ai, err := viaSigner.LocatePeer(context.Background(), target.ID())
	if err != nil {
		t.Fatalf("locating through the supernode: %v", err)
	}
	if ai.ID != target.ID() || len(ai.Addrs) == 0 {
		t.Errorf("located %+v, want %s with addresses", ai, target.ID())
	}
	if connected(viaSigner.Overlay, target.Overlay) {
		t.Error("locating connected to the target")
	}
	if _, err := viaAgent.LocatePeer(context.Background(), target.ID()); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("locating through an agent: %v, want routing.ErrNotFound", err)
	}
}

// TestLocatePeerAsksBootstrapPeersWithoutSigners: a node connected to no
// signer of its zone (the signers it bootstrapped off trimmed it) asks its
// bootstrap peers instead, which the operator configured.
func TestLocatePeerAsksBootstrapPeersWithoutSigners(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	withDHT := testConfig()
	withDHT.DHT.Mode = DHTModeServer
	target, boot := startNode(t, pki, nodeOpts{cfg: withDHT}), startNode(t, pki, nodeOpts{cfg: withDHT})
	connect(t, target.Overlay, boot.Overlay)
	waitFor(t, 30*time.Second, "the bootstrap peer to learn the target's addresses", func() bool {
		return len(boot.Host().Peerstore().Addrs(target.ID())) > 0
	})
	cfg := withDHT
	cfg.BootstrapPeers = []string{boot.Addrs()[0].String()}
	a := startNode(t, pki, nodeOpts{cfg: cfg})

	ai, err := a.LocatePeer(context.Background(), target.ID())
	if err != nil {
		t.Fatalf("locating through the bootstrap peer: %v", err)
	}
	if ai.ID != target.ID() || len(ai.Addrs) == 0 {
		t.Errorf("located %+v, want %s with addresses", ai, target.ID())
	}
}

// Reach connects to a peer this node knows no address of, located through
// a connected signer, and returns once the admission exchange verified
// it; a peer whose certificate does not verify is not reached.
func TestReachConnectsAndVerifies(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	withDHT := testConfig()
	withDHT.DHT.Mode = DHTModeServer
	sncfg := withDHT
	sncfg.Supernode = true
	sn := startNode(t, pki, nodeOpts{cfg: sncfg, member: pki.Issue(t, testZone, trust.RoleSupernode)})
	target, self := startNode(t, pki, nodeOpts{cfg: withDHT}), startNode(t, pki, nodeOpts{cfg: withDHT})
	impostor := startNode(t, trusttest.NewPKI(t, testZone), nodeOpts{cfg: withDHT})
	for _, n := range []*testNode{target, self, impostor} {
		connect(t, n.Overlay, sn.Overlay)
	}
	waitFor(t, 30*time.Second, "the supernode to learn the peers' addresses", func() bool {
		return len(sn.Host().Peerstore().Addrs(target.ID())) > 0 && len(sn.Host().Peerstore().Addrs(impostor.ID())) > 0
	})
	waitFor(t, 30*time.Second, "the supernode's admission", func() bool {
		pi, ok := self.PeerInfo(sn.ID())
		return ok && pi.Verified
	})
	if err := self.Reach(context.Background(), target.ID()); err != nil {
		t.Fatalf("reaching the target: %v", err)
	}
	if pi, ok := self.PeerInfo(target.ID()); !connected(self.Overlay, target.Overlay) || !ok || !pi.Verified {
		t.Errorf("after Reach: connected %v, admission %+v", connected(self.Overlay, target.Overlay), pi)
	}
	if err := self.Reach(context.Background(), impostor.ID()); !errors.Is(err, trust.ErrUntrusted) {
		t.Errorf("reaching a peer of another PKI: %v, want trust.ErrUntrusted", err)
	}
}

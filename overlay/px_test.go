package overlay

import (
	"testing"
	"time"

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
	const agents = 16 // above gossipsub's Dhi (12), so the supernode prunes
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.Supernode = true
	sn := startNode(t, pki, nodeOpts{cfg: cfg, member: pki.Issue(t, testZone, trust.RoleSupernode)})
	collect(t, sn.Overlay, sn.AnnounceTopic())
	collect(t, sn.Overlay, sn.SupernodesTopic()) // as a node's supernode does
	var as []*testNode
	for range agents {
		a := startNode(t, pki, nodeOpts{})
		collect(t, a.Overlay, a.AnnounceTopic())
		connect(t, a.Overlay, sn.Overlay)
		as = append(as, a)
	}
	// Connected first, meshed at a heartbeat after: wait for both.
	waitFor(t, 60*time.Second, "every agent connected to another agent and meshed", func() bool {
		for _, a := range as {
			if len(a.Host().Network().Peers()) < 2 || len(a.MeshPeers(a.AnnounceTopic())) == 0 {
				return false
			}
		}
		return true
	})
}

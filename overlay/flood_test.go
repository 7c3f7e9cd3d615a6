package overlay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// Flooding of a collective (seed paper's threat): a member floods the
// collective with hundreds of forged items while a supernode keeps
// publishing. The collective still delivers every honest item to every
// member, delivers no forgery, and graylists the flooder, after which its
// traffic is dropped before validation — so the flood costs the victims far
// fewer verifications than it had messages.
func TestCollectiveFloodingContained(t *testing.T) {
	const flood = 300
	pki := trusttest.NewPKI(t, testZone)
	rogue := trusttest.NewPKI(t, testZone).Issue(t, testZone, trust.RoleSupernode)
	cfg := testConfig()
	cfg.Collectives = []string{"web"}
	topic := CollectiveTopic(testZone, "web")

	sn := startNode(t, pki, nodeOpts{cfg: cfg, member: pki.Issue(t, testZone, trust.RoleSupernode)})
	acceptAll := ValidatorFunc(func(context.Context, string, peer.ID, []byte) (Verdict, any) { return Accept, nil })
	// The flooder floods-publishes to every topic peer: a member that only
	// pruned it from its mesh (score below zero, above the graylist) would
	// otherwise stop receiving the flood before graylisting it.
	floodCfg := cfg
	floodCfg.Supernode = true
	flooder := startNode(t, pki, nodeOpts{cfg: floodCfg, validator: acceptAll})
	members := []*testNode{startNode(t, pki, nodeOpts{cfg: cfg}), startNode(t, pki, nodeOpts{cfg: cfg})}
	got := []*collector{collect(t, members[0].Overlay, topic), collect(t, members[1].Overlay, topic)}
	collect(t, sn.Overlay, topic)
	collect(t, flooder.Overlay, topic)
	for _, m := range members {
		connect(t, sn.Overlay, m.Overlay)
		connect(t, flooder.Overlay, m.Overlay)
	}
	connect(t, members[0].Overlay, members[1].Overlay)
	for _, m := range members {
		waitMesh(t, m.Overlay, topic, 3)
	}

	var honest, forged [][]byte
	for i := range flood {
		f := announcement(t, rogue, fmt.Sprintf("flood-%03d", i))
		forged = append(forged, f)
		publish(t, flooder, f, topic)
		if i%30 == 0 {
			h := announcement(t, sn.member, fmt.Sprintf("honest-%03d", i))
			honest = append(honest, h)
			publish(t, sn, h, topic)
		}
	}
	waitFor(t, 20*time.Second, "every member graylisting the flooder", func() bool {
		for _, m := range members {
			if m.PeerScores()[flooder.ID()] >= m.cfg.Score.GraylistThreshold {
				return false
			}
		}
		return true
	})
	for i := range members {
		waitFor(t, 20*time.Second, fmt.Sprintf("member %d receives all %d honest items", i, len(honest)), func() bool {
			for _, h := range honest {
				if !got[i].has(h) {
					return false
				}
			}
			return true
		})
	}
	for i, m := range members {
		for _, f := range forged {
			if got[i].has(f) {
				t.Fatalf("member %d delivered forgery %q", i, f[:40])
			}
		}
		t.Logf("member %d verified %d of %d flooded items before dropping the rest", i, m.Stats().Rejected, flood)
		if s := m.Stats(); s.Rejected >= flood/2 {
			t.Errorf("member %d verified and rejected %d of %d flooded items: graylisting saved too little", i, s.Rejected, flood)
		}
	}
}

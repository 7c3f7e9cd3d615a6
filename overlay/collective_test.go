package overlay

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// ringWithChords links node i to i+1 and i+3 (mod n): degree 4, so a
// message reaches most nodes only through relays.
func ringWithChords(n int) [][2]int {
	var edges [][2]int
	for i := range n {
		edges = append(edges, [2]int{i, (i + 1) % n}, [2]int{i, (i + 3) % n})
	}
	return edges
}

func TestCollectiveSurvivesKilledRelays(t *testing.T) {
	const n = 12
	killed := []int{2, 5, 8, 11} // relays: every survivor keeps a path to node 0
	pki := trusttest.NewPKI(t, testZone)
	publisher := pki.Issue(t, testZone, trust.RoleSupernode)
	cfg := testConfig()
	cfg.Collectives = []string{"web"}
	topic := CollectiveTopic(testZone, "web")

	nodes := make([]*testNode, n)
	got := make([]*collector, n)
	for i := range nodes {
		o := nodeOpts{cfg: cfg}
		if i == 0 {
			o.member = publisher
		}
		nodes[i] = startNode(t, pki, o)
		got[i] = collect(t, nodes[i].Overlay, topic)
	}
	degree := map[int]int{}
	for _, e := range ringWithChords(n) {
		connect(t, nodes[e[0]].Overlay, nodes[e[1]].Overlay)
		degree[e[0]]++
		degree[e[1]]++
	}
	for i, nd := range nodes {
		waitMesh(t, nd.Overlay, topic, degree[i])
		if len(nd.Host().Network().Peers()) != degree[i] {
			t.Fatalf("node %d has %d connections, want the sparse topology's %d", i, len(nd.Host().Network().Peers()), degree[i])
		}
	}

	var msgs [][]byte
	for i := range 20 {
		msgs = append(msgs, announcement(t, publisher, fmt.Sprintf("stream-%02d", i)))
	}
	for _, m := range msgs[:10] {
		publish(t, nodes[0], m, topic)
	}
	for _, k := range killed { // mid-stream: earlier messages are still in flight
		if err := nodes[k].Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range msgs[10:] {
		publish(t, nodes[0], m, topic)
	}
	for i := range nodes {
		if slices.Contains(killed, i) || i == 0 {
			continue
		}
		waitFor(t, 20*time.Second, fmt.Sprintf("node %d receives all 20", i), func() bool {
			for _, m := range msgs {
				if !got[i].has(m) {
					return false
				}
			}
			return true
		})
	}
	// Relaying mattered: most survivors are not the publisher's neighbours.
	relayed := 0
	for i := range nodes {
		if m, ok := got[i].get(msgs[19]); ok && m.ReceivedFrom != nodes[0].ID() && i != 0 {
			relayed++
		}
	}
	if relayed == 0 {
		t.Error("no survivor got the last message through a relay")
	}
}

// A peer that sends forgeries is scored below the graylist threshold,
// its forgeries go nowhere, and it is then disconnected and kept out
// (BlockDuration) while honest peers stay.
func TestForgingPeerScoredDown(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	rogue := trusttest.NewPKI(t, testZone).Issue(t, testZone, trust.RoleSupernode)
	honest := startNode(t, pki, nodeOpts{member: pki.Issue(t, testZone, trust.RoleSupernode)})
	victim := startNode(t, pki, nodeOpts{})
	observer := startNode(t, pki, nodeOpts{})
	// The forger's own node accepts anything, so its forgeries leave it.
	acceptAll := ValidatorFunc(func(context.Context, string, peer.ID, []byte) (Verdict, any) { return Accept, nil })
	forger := startNode(t, pki, nodeOpts{validator: acceptAll})

	topic := victim.AnnounceTopic()
	gotHonest := collect(t, honest.Overlay, topic)
	gotVictim := collect(t, victim.Overlay, topic)
	gotObserver := collect(t, observer.Overlay, topic)
	collect(t, forger.Overlay, topic)
	connect(t, honest.Overlay, victim.Overlay)
	connect(t, forger.Overlay, victim.Overlay)
	connect(t, observer.Overlay, victim.Overlay)
	waitMesh(t, victim.Overlay, topic, 3)
	waitMesh(t, forger.Overlay, topic, 1)

	var forged [][]byte
	for i := range 5 {
		m := announcement(t, rogue, fmt.Sprintf("forged-%d", i))
		forged = append(forged, m)
		publish(t, forger, m, topic)
	}
	waitFor(t, 15*time.Second, "the forger's score below the graylist threshold", func() bool {
		return victim.PeerScores()[forger.ID()] < victim.cfg.Score.GraylistThreshold
	})
	ok := announcement(t, honest.member, "honest-after-forgeries")
	publish(t, honest, ok, topic)
	waitFor(t, 10*time.Second, "the honest message at the observer", func() bool { return gotObserver.has(ok) })

	for _, m := range forged {
		if gotVictim.has(m) || gotObserver.has(m) || gotHonest.has(m) {
			t.Errorf("forgery %q delivered", m[:40])
		}
	}
	if s := observer.Stats(); s.Rejected != 0 {
		t.Errorf("the victim forwarded forgeries: the observer rejected %d", s.Rejected)
	}
	if s := victim.Stats(); s.Rejected < 3 {
		t.Errorf("victim rejected %d forgeries, want at least the 3 that graylist", s.Rejected)
	}
	if score := victim.PeerScores()[honest.ID()]; score < 0 {
		t.Errorf("honest peer's score %v, want >= 0", score)
	}
	// Graylisted, the forger is disconnected (a score snapshot after) and
	// kept out; the honest peer stays.
	waitFor(t, 3*time.Duration(victim.cfg.Score.InspectInterval), "the victim to drop the graylisted forger", func() bool { return !connected(victim.Overlay, forger.Overlay) })
	if n := victim.Stats().Graylisted; n != 1 {
		t.Errorf("victim counted %d graylisted peers dropped, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := forger.Connect(ctx, victim.AddrInfo()); err == nil && connected(victim.Overlay, forger.Overlay) {
		t.Error("the dropped forger connected again at once")
	}
	if !connected(victim.Overlay, honest.Overlay) {
		t.Error("the honest peer was disconnected too")
	}
}

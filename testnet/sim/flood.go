package sim

import (
	"context"
	"fmt"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/rawgossip"
)

// floodRate is each flooding peer's messages a second (as `patchnet
// testnet flood`'s default).
const floodRate = 200

// runFlood: two peers outside the zone's PKI join the public zone's
// announce topic next to a few agents (testnet.FloodTargets). The forger
// sends forged announcements from before publication on (testnet.Forger);
// the replayer waits for the co-signed fix and sends it again in every
// shape that adds nothing (testnet.Replays). The agents must drop it all,
// graylist both and disconnect them, and still install the fix like
// everyone else.
func runFlood(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	forger, err := testnet.NewForger(z.lab.Zone)
	if err != nil {
		return err
	}
	targets := z.lab.Agents[:min(testnet.FloodTargets, len(z.lab.Agents))]
	announce := z.lab.Publisher.Overlay().AnnounceTopic()
	var flooders [2]*rawNode
	var topics [2]*pubsub.Topic
	for i, name := range []string{"forger", "replayer"} {
		if flooders[i], topics[i], err = z.floodPeer(ctx, name, announce, targets); err != nil {
			return err
		}
		defer flooders[i].h.Close()
	}
	sub, err := topics[1].Subscribe()
	if err != nil {
		return fmt.Errorf("flood: subscribing the replayer: %w", err)
	}
	before := dropped(z)
	type sent struct {
		forged, replayed int
		err              error
	}
	done := make(chan sent, 1)
	fctx, cancel := context.WithTimeout(ctx, z.params.Timeout)
	defer cancel()
	go func() {
		var s sent
		s.forged, s.replayed, s.err = testnet.Flood(fctx, forger, topics[0], topics[1],
			testnet.HeardAnnouncement(fctx, sub, flooders[1].h.ID()), floodRate, func(int) {})
		done <- s
	}()
	if err := z.publish(ctx); err != nil {
		return err
	}
	z.waitFor(ctx, z.lab.Agents, node.EventInstalled, "installed", progress)
	s := <-done
	if s.err != nil {
		return s.err
	}
	progress(fmt.Sprintf("flooded: %d forgeries, %d replays", s.forged, s.replayed), 1, 1)
	z.fill(rep, z.lab.Agents)
	rep.Checks["all_installed"] = z.count(z.lab.Agents, node.EventInstalled) == len(z.lab.Agents)
	rep.Checks["replays_sent"] = s.replayed > 0
	rep.Checks["forgeries_dropped"] = dropped(z) > before
	for i, check := range []string{"forger_dropped", "replayer_dropped"} {
		rep.Checks[check] = z.droppedBy(ctx, targets, flooders[i].h.ID())
	}
	return nil
}

// floodPeer starts a raw node named name, joined to topic and connected
// to targets, and waits until it knows every target on the topic.
func (z *zone) floodPeer(ctx context.Context, name, topic string, targets []*nodelab.Member) (*rawNode, *pubsub.Topic, error) {
	f, err := newRawNode(ctx, z.net, name, false)
	if err != nil {
		return nil, nil, err
	}
	t, err := f.PubSub().Join(topic)
	if err != nil {
		f.h.Close()
		return nil, nil, fmt.Errorf("flood: joining the announce topic: %w", err)
	}
	for _, m := range targets {
		ov := m.Overlay()
		if err := f.h.Connect(ctx, peer.AddrInfo{ID: ov.ID(), Addrs: ov.Host().Addrs()}); err != nil {
			f.h.Close()
			return nil, nil, fmt.Errorf("flood: connecting %s to %s: %w", name, m.Name, err)
		}
	}
	if !rawgossip.WaitUntil(ctx, z.params.Timeout, func() bool { return len(t.ListPeers()) == len(targets) }) {
		f.h.Close()
		return nil, nil, fmt.Errorf("flood: the targets' subscriptions never reached the %s", name)
	}
	return f, t, nil
}

// droppedBy waits until none of targets is connected to p: each drops a
// peer it graylisted at its next score snapshot
// (simScoreInspect), and the flooders never close a
// connection themselves.
func (z *zone) droppedBy(ctx context.Context, targets []*nodelab.Member, p peer.ID) bool {
	return rawgossip.WaitUntil(ctx, z.params.Timeout, func() bool {
		for _, m := range targets {
			if m.Overlay().Host().Network().Connectedness(p) == lpnet.Connected {
				return false
			}
		}
		return true
	})
}

// dropped is the gossip messages every node's validation dropped so far:
// rejected or ignored by the validator, or dropped before it (queue full,
// throttled, bad signature).
func dropped(z *zone) uint64 {
	var n uint64
	for _, m := range z.lab.Members() {
		st := m.Overlay().Stats()
		n += st.Rejected + st.Ignored + st.QueueFull + st.Throttled + st.BadSignature
	}
	return n
}

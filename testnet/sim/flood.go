package sim

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
)

const (
	// floodMessages is how many forged envelopes the flooding peer sends.
	floodMessages = 2000
	// floodTargets is how many agents the flooding peer connects to.
	floodTargets = 5
)

// runFlood: a peer outside the zone's PKI joins the public zone next to a
// few agents and floods the announce topic with forged envelopes, then the
// real fix is published. The agents must drop the forgeries, score the
// flooder down, and still install the fix like everyone else.
func runFlood(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	f, err := newRawNode(ctx, z.net, "flooder", false)
	if err != nil {
		return err
	}
	defer f.h.Close()
	announce := z.lab.Publisher.Overlay().AnnounceTopic()
	topic, err := f.ps.Join(announce)
	if err != nil {
		return fmt.Errorf("flood: joining the announce topic: %w", err)
	}
	targets := z.lab.Agents[:min(floodTargets, len(z.lab.Agents))]
	for _, m := range targets {
		ov := m.Overlay()
		if err := f.h.Connect(ctx, peer.AddrInfo{ID: ov.ID(), Addrs: ov.Host().Addrs()}); err != nil {
			return fmt.Errorf("flood: connecting to %s: %w", m.Name, err)
		}
	}
	// Flood-publishing reaches the peers the flooder knows subscribed.
	if !waitUntil(ctx, z.params.Timeout, func() bool { return len(f.ps.ListPeers(announce)) == len(targets) }) {
		return fmt.Errorf("flood: the targets' subscriptions never reached the flooder")
	}
	before := dropped(z)
	junk := make([]byte, rawMessageBytes)
	for i := range floodMessages {
		rand.Read(junk)
		if err := topic.Publish(ctx, junk); err != nil {
			return fmt.Errorf("flood: publishing forgery %d: %w", i+1, err)
		}
		if (i+1)%(floodMessages/10) == 0 {
			progress("forgeries sent", i+1, floodMessages)
		}
	}
	if err := z.publish(ctx); err != nil {
		return err
	}
	z.waitFor(ctx, z.lab.Agents, node.EventInstalled, "installed", progress)
	z.fill(rep, z.lab.Agents)
	rep.Checks["all_installed"] = z.count(z.lab.Agents, node.EventInstalled) == len(z.lab.Agents)
	rep.Checks["forgeries_dropped"] = dropped(z) > before
	// Scores are snapshotted every overlay.ScoreInspectInterval.
	rep.Checks["flooder_scored_down"] = waitUntil(ctx, z.params.Timeout, func() bool {
		for _, m := range targets {
			if s, ok := m.Overlay().PeerScores()[f.h.ID()]; ok && s < 0 {
				return true
			}
		}
		return false
	})
	return nil
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

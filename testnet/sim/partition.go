package sim

import (
	"context"
	"fmt"
	"time"

	lpnet "github.com/libp2p/go-libp2p/core/network"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/rawgossip"
)

const (
	// partitionHeartbeat is a partition run's heartbeat interval
	// (production: node.DefaultHeartbeatInterval, 1m), and
	// partitionHeartbeatMaxAge the age at which an agent calls itself cut
	// off (production 3m). A healed agent learns what it missed from the
	// supernodes' next heartbeat (their co-signed set differs from its own,
	// so it catches up) or from its next anti-entropy round; the run scales
	// both down so that it ends in seconds, not minutes.
	partitionHeartbeat, partitionHeartbeatMaxAge = 2 * time.Second, 6 * time.Second
	// partitionSyncInterval is a partition run's anti-entropy interval
	// (production: overlay.DefaultSyncInterval, 2m).
	partitionSyncInterval = 5 * time.Second
	// partitionBootstrapInterval is a partition run's bootstrap interval
	// (production and other sim runs: overlay.DefaultBootstrapInterval,
	// 15s), which paces the relinking of supernodes whose gossip went
	// silent across the cut; scaled down with the rest, as before sim
	// nodes took the production interval.
	partitionBootstrapInterval = time.Second
)

// partitionTimers scales cfg's repair timers down for a partition run.
func partitionTimers(cfg *node.Config) {
	cfg.Heartbeat.Interval = node.Duration(partitionHeartbeat)
	cfg.Heartbeat.MaxAge = node.Duration(partitionHeartbeatMaxAge)
	cfg.Overlay.Sync.Interval = node.Duration(partitionSyncInterval)
	cfg.Overlay.BootstrapInterval = node.Duration(partitionBootstrapInterval)
}

// sides are the two halves of a partitioned zone: the connected side with
// the publisher, k supernodes and half the agents; the cut side with the
// other supernodes (fewer than k) and the other agents.
type sides struct {
	connected, cut             []*nodelab.Member // every member of each side
	connectedAgents, cutAgents []*nodelab.Member
}

// split halves z: the first k supernodes and the first half of the agents
// go with the publisher.
func split(z *zone) sides {
	k, half := z.params.Threshold, len(z.lab.Agents)/2
	var s sides
	s.connectedAgents, s.cutAgents = z.lab.Agents[:half], z.lab.Agents[half:]
	s.connected = append([]*nodelab.Member{z.lab.Publisher}, z.lab.Supernodes[:k]...)
	s.connected = append(s.connected, s.connectedAgents...)
	s.cut = append(append([]*nodelab.Member(nil), z.lab.Supernodes[k:]...), s.cutAgents...)
	return s
}

// runPartition: the network is cut in two and the fix published on the
// connected side, which must accept and install it; the cut side, which
// holds fewer than k supernodes and never hears the announcement, must
// accept nothing. Once no connection crosses the cut any more (QUIC gives
// up on a silent peer after its idle timeout) the cut is healed, and the
// cut side must catch up — reconnect, learn the announcement it missed
// through catch-up and install it — within the run's timeout. Stages
// connected_side and cut_side_before_heal are acceptance from publication;
// caught_up is the cut side's install from the heal.
func runPartition(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	if len(z.lab.Agents) < 2 {
		return fmt.Errorf("partition: needs at least 2 agents, one on each side (have %d)", len(z.lab.Agents))
	}
	s := split(z)
	z.net.split(names(s.connected), names(s.cut))
	if err := z.publish(ctx); err != nil {
		return err
	}
	z.waitFor(ctx, s.connectedAgents, node.EventInstalled, "connected side installed", progress)
	rep.Checks["connected_side_accepted"] = z.count(s.connectedAgents, node.EventAccepted) == len(s.connectedAgents)
	rep.Checks["connected_side_installed"] = z.count(s.connectedAgents, node.EventInstalled) == len(s.connectedAgents)
	rep.Checks["cut_isolated"] = z.waitIsolated(ctx, s, progress)
	rep.Checks["cut_side_waited"] = z.count(s.cutAgents, node.EventAccepted) == 0
	rep.Stages["cut_side_before_heal"] = testnet.Summarize(z.times(s.cutAgents, node.EventAccepted, z.t0), len(s.cutAgents))
	rep.Checks["cut_dropped_traffic"] = z.net.cut.dropped.Load() > 0
	synced := catchUpItems(s.cut)
	z.net.heal()
	healed := time.Now()
	caught := z.waitFor(ctx, s.cutAgents, node.EventInstalled, "cut side caught up", progress)
	rep.Checks["healed_caught_up"] = caught == len(s.cutAgents)
	// Gossip keeps no history: what the cut side missed can only come
	// back through catch-up (the sync protocol) — into one of its members
	// at least. Not necessarily into every agent: the cut side's
	// supernode, once caught up, co-signs and gossips the merged envelope,
	// which is a new message, and an agent may get that first.
	rep.Checks["caught_up_through_sync"] = catchUpItems(s.cut) > synced
	z.fill(rep, z.lab.Agents)
	rep.Stages["connected_side"] = testnet.Summarize(z.times(s.connectedAgents, node.EventAccepted, z.t0), len(s.connectedAgents))
	rep.Stages["caught_up"] = testnet.Summarize(z.times(s.cutAgents, node.EventInstalled, healed), len(s.cutAgents))
	return nil
}

// waitIsolated waits until no connection crosses the cut, or the run's
// timeout; it reports whether the sides came apart.
func (z *zone) waitIsolated(ctx context.Context, s sides, progress testnet.Progress) bool {
	cut := map[string]bool{}
	for _, m := range s.cut {
		cut[m.ID().String()] = true
	}
	crossing := func() int {
		n := 0
		for _, m := range s.connected {
			for _, p := range m.Overlay().Host().Network().Peers() {
				if cut[p.String()] && m.Overlay().Host().Network().Connectedness(p) == lpnet.Connected {
					n++
				}
			}
		}
		return n
	}
	first, last := crossing(), -1
	return rawgossip.WaitUntil(ctx, z.params.Timeout, func() bool {
		n := crossing()
		if n != last {
			// Counts the connections gone, out of those there were.
			progress("connections across the cut closed", first-min(n, first), first)
			last = n
		}
		return n == 0
	})
}

// times is how long after from each of set first had an event of kind
// (those that had none left out).
func (z *zone) times(set []*nodelab.Member, kind node.EventKind, from time.Time) []time.Duration {
	var out []time.Duration
	for _, m := range set {
		if at, ok := z.ev.at(m.ID(), kind); ok {
			out = append(out, max(at.Sub(from), time.Nanosecond))
		}
	}
	return out
}

// catchUpItems is how many catch-up items set's validators accepted so far.
func catchUpItems(set []*nodelab.Member) uint64 {
	var n uint64
	for _, m := range set {
		n += m.Overlay().Stats().CatchUpAccepted
	}
	return n
}

// names are the members' names.
func names(set []*nodelab.Member) []string {
	out := make([]string, len(set))
	for i, m := range set {
		out[i] = m.Name
	}
	return out
}

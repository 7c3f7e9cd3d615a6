package netns

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
)

// lateJoin publishes the fix to Params.Nodes agents and waits until each
// installed it, then starts testnet.LateJoiners more, offline until then
// on the old package: each must catch up from its peers (the gossip has
// passed) and install the fix. The stages are the whole zone's from
// publication; caught_up is the late agents' install from their start.
func lateJoin(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	online := agentNames(p.Nodes)
	all := agentNames(p.Nodes + testnet.LateJoiners(p.Nodes))
	late := all[len(online):]
	var pk packages
	return withCluster(ctx, p, progress, all, fixSetup(p, online, &pk), func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		_, t0, done, err := c.publishFix(ctx, pk.fix)
		if err != nil {
			return nil, err
		}
		tls, werr := c.waitFinal(ctx, propID, online)
		if err := <-done; err != nil {
			return nil, err
		}
		rep := fixReport(p, c, setupTime, pk.fix)
		rep.Checks["online_installed"] = count(tls, online, installed) == len(online)
		started := time.Now()
		if werr == nil {
			var back map[string]*timeline
			back, werr = c.startLate(ctx, late, pk.old)
			maps.Copy(tls, back)
		}
		rep.Checks["late_joiners_caught_up"] = count(tls, late, installed) == len(late)
		fillStages(rep, tls, all, t0)
		rep.Stages["caught_up"] = testnet.Summarize(since(tls, late, node.EventInstalled, started), len(late))
		if err := c.counters(ctx, rep, propID); err != nil {
			return rep, errors.Join(werr, err)
		}
		return rep, werr
	})
}

// startLate starts the late agents on the old package and waits until
// each finished with the fix.
func (c *cluster) startLate(ctx context.Context, late []string, old string) (map[string]*timeline, error) {
	for i, a := range late {
		if err := c.startVulnerable(ctx, a, old); err != nil {
			return nil, fmt.Errorf("starting late agent %s: %w", a, err)
		}
		c.progress("late agents started", i+1, len(late))
	}
	return c.waitFinal(ctx, propID, late)
}

// since is how long after t each of set had its first event of kind
// (those that had none left out).
func since(tls map[string]*timeline, set []string, kind node.EventKind, t time.Time) []time.Duration {
	var out []time.Duration
	for _, a := range set {
		if tl := tls[a]; tl != nil && !tl.at[kind].IsZero() {
			out = append(out, max(tl.at[kind].Sub(t), time.Nanosecond))
		}
	}
	return out
}

// sides are a partition's halves: the connected side has the publisher,
// the vendor's origin, the first k supernodes and the first half of the
// agents; the cut side the other supernodes (fewer than k) and agents.
type sides struct {
	connectedAgents, cutAgents []string
	connected, cut             []string // every daemon of each side
}

// split halves the cluster's nodes as sim's partition does.
func split(c *cluster) sides {
	half, k := len(c.agents)/2, c.p.Threshold
	s := sides{connectedAgents: c.agents[:half], cutAgents: c.agents[half:]}
	s.connected = append(slices.Clone(c.supernodes()[:k]), s.connectedAgents...)
	s.cut = append(slices.Clone(c.supernodes()[k:]), s.cutAgents...)
	return s
}

// waitIsolated waits until no connection crosses the cut, seen from
// either side: a connection that outlives the cut (TCP retransmits into
// the silence until yamux's keepalive gives up on it, about 30-40 s)
// would carry what was queued on it across once healed, and the cut side
// would never need to catch up.
func (c *cluster) waitIsolated(ctx context.Context, s sides) error {
	if err := c.waitAll(ctx, s.connected, "connections across the cut closed (connected side)", noConnTo(c.addrs(s.cut))); err != nil {
		return err
	}
	return c.waitAll(ctx, s.cut, "connections across the cut closed (cut side)", noConnTo(c.addrs(s.connected)))
}

// addrs are the named nodes' addresses.
func (c *cluster) addrs(names []string) []string {
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = c.net.Node(name).Addr.String()
	}
	return out
}

// noConnTo holds when none of the node's connections goes to one of the
// IPv4 addresses addrs.
func noConnTo(addrs []string) condition {
	return func(st *node.APIStatus) bool {
		for _, p := range st.Peers {
			for _, a := range p.Addrs {
				if slices.ContainsFunc(addrs, func(x string) bool { return strings.HasPrefix(a, "/ip4/"+x+"/") }) {
					return false
				}
			}
		}
		return true
	}
}

// partition cuts the zone in two before publication (sides). The
// connected side must accept and install the fix. The cut side must hear
// nothing of it: each cut agent raises its heartbeat alarm first (it runs
// and hears no supernode), and once the connected side installed, no
// node of the cut side has an event of the fix. The cut lasts until no
// connection crosses it any more, and at least PartitionHold after
// publication (past gossip's message cache). Then it heals, and the cut
// side must reconnect, learn the fix through catch-up (gossip no longer
// holds it) and install it. Stages as sim's: connected_side is
// acceptance from publication, caught_up the cut side's install from the
// heal.
func partition(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	if p.Nodes < 2 {
		return nil, fmt.Errorf("partition: needs at least 2 agents, one on each side (have %d)", p.Nodes)
	}
	agents := agentNames(p.Nodes)
	var pk packages
	return withCluster(ctx, p, progress, agents, fixSetup(p, agents, &pk), func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		s := split(c)
		cutAt := time.Now()
		if err := c.net.Partition(ctx, s.cut); err != nil {
			return nil, err
		}
		if err := c.waitAll(ctx, s.cutAgents, "cut agents alarmed", eventSince(node.EventHeartbeatStale, cutAt)); err != nil {
			return nil, err
		}
		_, t0, done, err := c.publishFix(ctx, pk.fix)
		if err != nil {
			return nil, err
		}
		tls, werr := c.waitFinal(ctx, propID, s.connectedAgents)
		if err := <-done; err != nil {
			return nil, err
		}
		rep := fixReport(p, c, setupTime, pk.fix)
		rep.Checks["connected_side_accepted"] = count(tls, s.connectedAgents, accepted) == len(s.connectedAgents)
		rep.Checks["connected_side_installed"] = count(tls, s.connectedAgents, installed) == len(s.connectedAgents)
		isolated := c.waitIsolated(ctx, s)
		rep.Checks["cut_isolated"] = isolated == nil
		if err := errors.Join(werr, isolated, holdCut(ctx, t0)); err != nil {
			return rep, err
		}
		healed, back, err := c.heal(ctx, s, rep)
		maps.Copy(tls, back)
		werr = errors.Join(werr, err)
		rep.Checks["healed_caught_up"] = count(tls, s.cutAgents, installed) == len(s.cutAgents)
		fillStages(rep, tls, agents, t0)
		rep.Stages["connected_side"] = testnet.Summarize(since(tls, s.connectedAgents, node.EventAccepted, t0), len(s.connectedAgents))
		rep.Stages["caught_up"] = testnet.Summarize(since(tls, s.cutAgents, node.EventInstalled, healed), len(s.cutAgents))
		if err := c.counters(ctx, rep, propID); err != nil {
			return rep, errors.Join(werr, err)
		}
		return rep, werr
	})
}

// holdCut returns once the cut has lasted PartitionHold past the
// publication at t0.
func holdCut(ctx context.Context, t0 time.Time) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("holding the partition: %w", ctx.Err())
	case <-time.After(time.Until(t0.Add(PartitionHold))):
		return nil
	}
}

// heal checks that the cut side heard nothing, heals the cut and waits
// until the cut agents finished with the fix, checking that they caught
// up through catch-up; it returns when it healed and their timelines.
func (c *cluster) heal(ctx context.Context, s sides, rep *testnet.Report) (time.Time, map[string]*timeline, error) {
	heard, err := c.countWith(ctx, s.cut, heardOf(propID))
	if err != nil {
		return time.Time{}, nil, err
	}
	rep.Checks["cut_side_waited"] = heard == 0
	synced, err := c.overlayCounter(ctx, s.cutAgents, catchUpAccepted)
	if err != nil {
		return time.Time{}, nil, err
	}
	healed := time.Now()
	if err := c.net.Heal(ctx); err != nil {
		return healed, nil, err
	}
	tls, err := c.waitFinal(ctx, propID, s.cutAgents)
	if err != nil {
		return healed, tls, err
	}
	after, err := c.overlayCounter(ctx, s.cutAgents, catchUpAccepted)
	rep.Checks["caught_up_through_sync"] = after > synced
	return healed, tls, err
}

// catchUpAccepted is the overlay counter of catch-up items a node's
// validator accepted, as /v1/status names it.
const catchUpAccepted = "catch_up_accepted"

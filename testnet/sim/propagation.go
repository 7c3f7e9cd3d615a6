package sim

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
)

// runPropagation publishes one fix and waits until every agent installed
// it: delivery, acceptance and install times from publication.
func runPropagation(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	if err := z.publish(ctx); err != nil {
		return err
	}
	installed := z.waitFor(ctx, z.lab.Agents, node.EventInstalled, "installed", progress)
	z.fill(rep, z.lab.Agents)
	rep.Checks["all_installed"] = installed == len(z.lab.Agents)
	rep.Checks["agents_meshed_beyond_bootstrap"] = z.meshedBeyondBootstrap(z.lab.Agents)
	return nil
}

// runChurn publishes one fix, kills ChurnShare of the agents at once, waits
// until every survivor installed it, then restarts half of the killed ones
// and waits until they caught up and installed it too.
func runChurn(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	rng := rand.New(rand.NewPCG(uint64(z.params.Seed), 10))
	agents := append([]*nodelab.Member(nil), z.lab.Agents...)
	rng.Shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
	kill := int(z.params.ChurnShare * float64(len(agents)))
	killed, survivors := agents[:kill], agents[kill:]
	if err := z.publish(ctx); err != nil {
		return err
	}
	for i, m := range killed {
		if err := z.lab.Stop(m); err != nil {
			return err
		}
		progress("killed", i+1, len(killed))
	}
	got := z.waitFor(ctx, survivors, node.EventInstalled, "survivors installed", progress)
	rep.Checks["survivors_accepted"] = z.count(survivors, node.EventAccepted) == len(survivors)
	rep.Checks["survivors_installed"] = got == len(survivors)
	restarted := killed[:len(killed)/2]
	for i, m := range restarted {
		if err := z.lab.Start(ctx, m); err != nil {
			return err
		}
		progress("restarted", i+1, len(restarted))
	}
	caught := z.waitFor(ctx, restarted, node.EventInstalled, "restarted installed", progress)
	rep.Checks["restarted_caught_up"] = caught == len(restarted)
	live := append(append([]*nodelab.Member(nil), survivors...), restarted...)
	z.fill(rep, live)
	return nil
}

// count is how many of set had an event of kind.
func (z *zone) count(set []*nodelab.Member, kind node.EventKind) int {
	n := 0
	for _, m := range set {
		if _, ok := z.ev.at(m.ID(), kind); ok {
			n++
		}
	}
	return n
}

// runLateJoin publishes one fix, waits until every agent installed it,
// then starts testnet.LateJoiners more agents that were offline meanwhile: each
// must catch up from its peers (the gossip has passed) and install it.
func runLateJoin(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	if err := z.publish(ctx); err != nil {
		return err
	}
	early := append([]*nodelab.Member(nil), z.lab.Agents...)
	got := z.waitFor(ctx, early, node.EventInstalled, "installed", progress)
	rep.Checks["online_installed"] = got == len(early)
	late := make([]*nodelab.Member, 0, testnet.LateJoiners(len(early)))
	for i := range cap(late) {
		m, err := z.lab.AddAgent(ctx)
		if err != nil {
			return fmt.Errorf("late join: starting agent %d: %w", i+1, err)
		}
		late = append(late, m)
		progress("late agents started", i+1, cap(late))
	}
	caught := z.waitFor(ctx, late, node.EventInstalled, "late agents installed", progress)
	rep.Checks["late_joiners_caught_up"] = caught == len(late)
	z.fill(rep, z.lab.Agents)
	return nil
}

// runContent is propagation judged by the artifact's distribution: one
// origin (the publisher's node, its uplink capped at OriginBandwidth), every
// agent fetching; the agents must share, so the origin serves at most
// (supernodes + 1) × the artifact, where an HTTP origin serves it to every
// agent.
func runContent(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	if err := runPropagation(ctx, z, rep, progress); err != nil {
		return err
	}
	bound := testnet.OriginEgressBound(len(z.lab.Supernodes), z.lab.ArtifactSize())
	rep.Checks["origin_egress_within_bound"] = rep.OriginEgressBytes <= bound
	rep.Checks["peers_served"] = rep.PeerEgressBytes > 0
	return nil
}

package rawgossip

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/patchnet/patchnet/testnet"
)

// Member is a baseline peer as its runner sees it: a Peer in this
// process or a Remote one in another.
type Member interface {
	Grafts() int64
	Prunes() int64
	Duplicates() int64
	Got(round int64) (time.Time, bool)
}

// Publisher is the member a baseline publishes from.
type Publisher interface {
	Member
	Publish(ctx context.Context, round int64, size int) (time.Time, error)
}

// Outcome is what a baseline's rounds measured.
type Outcome struct {
	// Median is the agents' delivery times of the round whose last
	// delivery is the median of the rounds' (MedianRound).
	Median []time.Duration
	// Rounds are each round's delivery times, in order.
	Rounds [][]time.Duration
	// DuplicatesPerMessage is the duplicates every member but the
	// publisher received, per member and round.
	DuplicatesPerMessage float64
}

// Fill puts the outcome in rep: the median round as the raw gossipsub
// result, each round's time to its last agent, the duplicates.
func (o Outcome) Fill(rep *testnet.Report, agents int) {
	rep.Results[testnet.ResultRawGossipsub] = testnet.Summarize(o.Median, agents)
	rep.RawRoundsMaxMS = nil
	for _, times := range o.Rounds {
		rep.RawRoundsMaxMS = append(rep.RawRoundsMaxMS, testnet.Summarize(times, agents).MaxMS)
	}
	rep.RawDuplicatesPerMessage = o.DuplicatesPerMessage
}

// Run publishes Rounds messages of size bytes from pub, each once the
// previous one's gossip died down, and times each round's delivery to
// the agents; all are every member (the publisher and the agents
// among them), whose duplicates it counts. Each round ends when every
// agent got it, nothing new came for RoundQuiet, or timeout passed.
func Run(ctx context.Context, pub Publisher, all, agents []Member, size int, timeout time.Duration, progress testnet.Progress) (Outcome, error) {
	var out Outcome
	dups := func() (sum int64) {
		for _, m := range all {
			sum += m.Duplicates()
		}
		return sum
	}
	before := dups()
	for r := range int64(Rounds) {
		if r > 0 {
			WaitSteady(ctx, RoundGap, dups)
		}
		t0, err := pub.Publish(ctx, r, size)
		if err != nil {
			return out, err
		}
		out.Rounds = append(out.Rounds, waitRound(ctx, agents, r, t0, timeout, progress))
	}
	out.Median = MedianRound(out.Rounds, len(agents))
	if len(all) > 1 {
		out.DuplicatesPerMessage = float64(dups()-before) / float64(len(all)-1) / Rounds
	}
	return out, nil
}

// waitRound waits until every agent got round's message, or none got it
// for RoundQuiet, or timeout passed since t0, and returns the delivery
// times.
func waitRound(ctx context.Context, agents []Member, round int64, t0 time.Time, timeout time.Duration, progress testnet.Progress) []time.Duration {
	deadline := t0.Add(timeout)
	var times []time.Duration
	last, changed := -1, time.Now()
	for {
		times = times[:0]
		for _, m := range agents {
			if at, ok := m.Got(round); ok {
				times = append(times, at.Sub(t0))
			}
		}
		if len(times) != last {
			progress("raw received", len(times), len(agents))
			last, changed = len(times), time.Now()
		}
		if len(times) == len(agents) || time.Since(changed) >= RoundQuiet || time.Now().After(deadline) || ctx.Err() != nil {
			return times
		}
		time.Sleep(PollInterval)
	}
}

// WaitMeshes waits until every member grafted a mesh peer, then until
// the meshes stop changing (the sum over every member unchanged for
// MeshStable), at most MeshSettle: a mesh of one just-grafted peer
// spreads a message by heartbeat gossip, seconds slower than the settled
// meshes of the zone it stands beside. It reports whether every member
// grafted within timeout.
func WaitMeshes(ctx context.Context, all []Member, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	grafted := WaitUntil(ctx, timeout, func() bool {
		return !slices.ContainsFunc(all, func(m Member) bool { return m.Grafts() == 0 })
	})
	if !grafted {
		return false
	}
	WaitSteady(ctx, min(time.Until(deadline), MeshSettle), func() (sum int64) {
		for _, m := range all {
			sum += m.Grafts() - m.Prunes()
		}
		return sum
	})
	return true
}

// WaitSteady waits until count has not changed for MeshStable (two
// gossipsub heartbeats), at most bound.
func WaitSteady(ctx context.Context, bound time.Duration, count func() int64) {
	last, since := int64(-1), time.Now()
	WaitUntil(ctx, bound, func() bool {
		if c := count(); c != last {
			last, since = c, time.Now()
		}
		return time.Since(since) >= MeshStable
	})
}

// WaitUntil polls cond until it holds, the timeout passes or ctx ends.
func WaitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(PollInterval)
	}
	return true
}

// MedianRound is the round whose last delivery is the median of the
// rounds' (a round that missed agents counts as the slowest): one
// publication's time to the last node varied from 1.1 to 2.5 s between
// runs of the same 1,000-node zone, and the floor patchnet is compared
// against should be neither the luckiest nor the unluckiest.
func MedianRound(rounds [][]time.Duration, agents int) []time.Duration {
	if len(rounds) == 0 {
		return nil
	}
	last := func(times []time.Duration) time.Duration {
		switch {
		case len(times) < agents:
			return time.Duration(math.MaxInt64)
		case len(times) == 0:
			return 0
		}
		return slices.Max(times)
	}
	sorted := slices.Clone(rounds)
	slices.SortStableFunc(sorted, func(a, b []time.Duration) int { return cmp.Compare(last(a), last(b)) })
	return sorted[len(sorted)/2]
}

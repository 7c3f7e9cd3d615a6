package netns

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/patchnet/patchnet/testnet"
)

// churn is propagation with crashes: right after the fix is published it
// SIGKILLs Params.ChurnShare of the agents at once (chosen by
// Params.Seed, as sim does), waits until every survivor accepted and
// installed the fix, then restarts half of the killed ones on their state
// and waits until they caught up (the gossip has passed: they learn of
// the fix from their peers' catch-up) and installed it too.
func churn(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	agents := agentNames(p.Nodes)
	killed, survivors := churnSplit(agents, p)
	restarted := killed[:len(killed)/2]
	if len(restarted) == 0 {
		return nil, fmt.Errorf("churn share %v of %d agents kills %d and restarts none: raise --churn or --nodes", p.ChurnShare, p.Nodes, len(killed))
	}
	var pk packages
	return withCluster(ctx, p, progress, agents, fixSetup(p, agents, &pk), func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		_, t0, done, err := c.publishFix(ctx, pk.fix)
		if err != nil {
			return nil, err
		}
		for i, a := range killed {
			c.kill(a)
			c.progress("killed", i+1, len(killed))
		}
		tls, werr := c.waitFinal(ctx, propID, survivors)
		if err := <-done; err != nil {
			return nil, err
		}
		rep := fixReport(p, c, setupTime, pk.fix)
		rep.Checks["survivors_accepted"] = count(tls, survivors, accepted) == len(survivors)
		rep.Checks["survivors_installed"] = count(tls, survivors, installed) == len(survivors)
		if werr == nil {
			var back map[string]*timeline
			back, werr = c.restartAll(ctx, restarted)
			maps.Copy(tls, back)
		}
		rep.Checks["restarted_caught_up"] = count(tls, restarted, installed) == len(restarted)
		live := append(slices.Clone(survivors), restarted...)
		fillStages(rep, tls, live, t0)
		if err := c.counters(ctx, rep, propID); err != nil {
			return rep, errors.Join(werr, err)
		}
		return rep, werr
	})
}

// churnSplit chooses the agents churn kills, ChurnShare of them, the same
// for the same seed; the rest survive.
func churnSplit(agents []string, p testnet.Params) (killed, survivors []string) {
	rng := rand.New(rand.NewPCG(uint64(p.Seed), 10))
	shuffled := slices.Clone(agents)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	n := int(p.ChurnShare * float64(len(agents)))
	return shuffled[:n], shuffled[n:]
}

// restartAll restarts the killed agents set and waits until each
// finished with the fix.
func (c *cluster) restartAll(ctx context.Context, set []string) (map[string]*timeline, error) {
	for i, a := range set {
		if err := c.restart(ctx, a); err != nil {
			return nil, fmt.Errorf("restarting %s: %w", a, err)
		}
		c.progress("restarted", i+1, len(set))
	}
	return c.waitFinal(ctx, propID, set)
}

package content

import (
	"context"
	"math/rand/v2"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// usableSeeds returns the seeds a fetch uses: the first MaxSeeds of the
// given ones, without this node (self), empty IDs and duplicates, in a
// random order.
func usableSeeds(seeds []peer.ID, self peer.ID) []peer.ID {
	var out []peer.ID
	for _, p := range seeds {
		if seedUsable(out, p, self) {
			out = append(out, p)
		}
	}
	// Shuffled: every agent of a zone names the same co-signers in the
	// same order, and the first seed added usually claims the first run,
	// so in order one supernode took 5 of 6 agents' requests (netns) and
	// the others' idle seeds stole from it.
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// seedUsable reports whether p may join the seeds used: fewer than
// MaxSeeds are, and p is none of them, nor empty, nor this node (self).
func seedUsable(used []peer.ID, p, self peer.ID) bool {
	return len(used) < MaxSeeds && p != "" && p != self && !slices.Contains(used, p)
}

// addSeeds adds the fetch's seeds as providers before the DHT is asked,
// each as soon as a provider slot is free: those that fit in MaxProviders
// were added at once (addFreeSeeds), the others go in as seeds ahead of
// them are dropped. Seeds are providers like any other (they count
// against MaxProviders and MaxProviderCandidates, and a bad one is
// dropped for the fetch), only known without a DHT record, whose storing
// takes seconds while a whole zone searches at once. Waiting for a slot ends after
// ProviderSearchTimeout: the DHT search follows, and finds the remaining
// seeds too if they provide. It reports false when the search should stop
// (the transfer ended or MaxProviderCandidates were tried).
func (f *fetch) addSeeds(ctx context.Context, t *transfer) bool {
	if len(f.seeds) == f.seeded {
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, f.s.cfg.ProviderSearchTimeout)
	defer cancel()
	for _, p := range f.seeds[f.seeded:] {
		if !t.waitRoom(wctx) {
			break
		}
		if !t.addSeed(ctx, p) {
			return false
		}
	}
	return true
}

// addFreeSeeds adds the seeds there is room for at once, before the DAG's
// nodes are asked for, so that the first ask sees every seed it could use
// and can prefer one this node is connected to (goodProvider); added only
// from the search goroutine, the ask went to whichever seed came first
// when it looked, connected or not. It returns how many it added.
func (f *fetch) addFreeSeeds(ctx context.Context, t *transfer) int {
	n := min(len(f.seeds), t.maxProviders)
	for _, p := range f.seeds[:n] {
		t.addSeed(ctx, p)
	}
	return n
}

// addLateSeeds adds the seeds arriving on the fetch's late-seed channel as
// providers until the transfer or ctx ends: each not yet used (nor this
// node), while fewer than MaxSeeds were used, once a slot is free.
func (f *fetch) addLateSeeds(ctx context.Context, t *transfer) {
	used := slices.Clone(f.seeds)
	for {
		var (
			p  peer.ID
			ok bool
		)
		select {
		case <-ctx.Done():
			return
		case p, ok = <-f.opts.lateSeeds:
			if !ok {
				return
			}
		}
		if !seedUsable(used, p, f.s.h.ID()) {
			continue
		}
		used = append(used, p)
		if !t.waitRoom(ctx) || !t.addSeed(ctx, p) {
			return
		}
	}
}

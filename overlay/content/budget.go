package content

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// serveBudget caps what this node serves of the artifacts it seeded (Add):
// the publisher, or a supernode that fetched from the vendor itself, is the
// zone's origin, and origin egress must stay near one copy per seeder while
// the fetchers share the rest among themselves.
//
// The budget of an artifact is copies × its bytes (every block of its DAG).
// It is spent in whole copies: at most copies peers hold a slot at once, and
// each is served at most one copy, so the bytes go to a few fetchers who
// finish, provide the root and serve the others, not a sliver to each of
// fifty who then all wait. A slot whose peer asked nothing for
// SeedSlotIdle is freed for the next peer (a peer that took a slot and went
// away must not hold it), but the bytes it was served stay spent. Past the
// budget the server answers statusBusy: the fetcher drops this provider for
// the fetch, without marking it bad, and goes on with others or the vendor.
//
// Only roots added here are budgeted: what a node fetched it serves without
// limit, since every copy it serves is egress the origin saved. The budget
// lives in memory: a restarted seeder starts a fresh one.
type serveBudget struct {
	copies int // 0: no budget

	mu     sync.Mutex
	blocks map[cid.Cid]*seeded // every block of each seeded artifact
}

// seeded is one seeded artifact's budget.
type seeded struct {
	total int64                // bytes of all its blocks: one copy
	spent int64                // bytes served so far, to anyone
	slots map[peer.ID]*seedRun // peers being served a copy
	done  map[peer.ID]bool     // peers served a whole copy, or whose slot lapsed
	given []peer.ID            // peers served a whole copy, latest last
}

// seedRun is one peer's copy in progress.
type seedRun struct {
	served int64
	last   time.Time
}

func newServeBudget(copies int) *serveBudget {
	return &serveBudget{copies: copies, blocks: make(map[cid.Cid]*seeded)}
}

// seed puts the artifact whose blocks (with their sizes) are given under
// the budget. Blocks already under one keep it (an artifact added twice is
// one budget, not two).
func (b *serveBudget) seed(blocks map[cid.Cid]int) {
	if b.copies == 0 || len(blocks) == 0 {
		return
	}
	a := &seeded{slots: make(map[peer.ID]*seedRun), done: make(map[peer.ID]bool)}
	for _, n := range blocks {
		a.total += int64(n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range blocks {
		if _, ok := b.blocks[c]; !ok {
			b.blocks[c] = a
		}
	}
}

// forget drops the budgets of deleted blocks (Prune).
func (b *serveBudget) forget(blocks map[cid.Cid]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range blocks {
		delete(b.blocks, c)
	}
}

// spend reports whether p may be sent the n-byte block c, and if so counts
// it. Blocks of no seeded artifact are always allowed.
func (b *serveBudget) spend(p peer.ID, c cid.Cid, n int, now time.Time) bool {
	if b == nil || b.copies == 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.blocks[c]
	if a == nil {
		return true
	}
	if a.spent+int64(n) > int64(b.copies)*a.total {
		return false
	}
	run := a.slot(p, b.copies, now)
	if run == nil || run.served+int64(n) > a.total {
		return false
	}
	run.served += int64(n)
	run.last = now
	a.spent += int64(n)
	if run.served >= a.total {
		delete(a.slots, p)
		a.done[p] = true
		if len(a.given) < MaxSeedPeers {
			a.given = append(a.given, p)
		}
	}
	return true
}

// hints names up to MaxBusyHints peers, other than p, that were served a
// whole copy of c's artifact (the latest first): a refused fetcher asks
// them at once instead of waiting for their provider records.
func (b *serveBudget) hints(p peer.ID, c cid.Cid) []peer.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.blocks[c]
	if a == nil {
		return nil
	}
	var out []peer.ID
	for i := len(a.given) - 1; i >= 0 && len(out) < MaxBusyHints; i-- {
		if a.given[i] != p {
			out = append(out, a.given[i])
		}
	}
	return out
}

// slot returns p's slot, taking a free one (after freeing lapsed ones) if
// p has none; nil if none is free or p already had its copy.
func (a *seeded) slot(p peer.ID, copies int, now time.Time) *seedRun {
	if run := a.slots[p]; run != nil {
		return run
	}
	if a.done[p] {
		return nil
	}
	if len(a.slots) >= copies {
		for q, run := range a.slots {
			if now.Sub(run.last) >= SeedSlotIdle {
				delete(a.slots, q)
				a.done[q] = true
			}
		}
	}
	if len(a.slots) >= copies || len(a.done) >= MaxSeedPeers {
		return nil
	}
	run := &seedRun{last: now}
	a.slots[p] = run
	return run
}

// recordBlocks is a Blockstore that notes every block put through it with
// its size, held already or not: Add learns the blocks of what it seeds.
type recordBlocks struct {
	Blockstore
	mu     sync.Mutex
	blocks map[cid.Cid]int
}

// PutVerified records c and stores it.
func (r *recordBlocks) PutVerified(ctx context.Context, c cid.Cid, data []byte) error {
	r.mu.Lock()
	if len(r.blocks) < MaxDAGNodes {
		r.blocks[c] = len(data)
	}
	r.mu.Unlock()
	return r.Blockstore.PutVerified(ctx, c, data)
}

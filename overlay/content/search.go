package content

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peerstore"
)

// search feeds providers of the root to t: the seeds first (addSeeds),
// then, if the service has a router and the seeds do not suffice
// (seedsFirst), those the DHT finds. It asks the DHT
// for every record (count 0) and takes the next one whenever fewer than
// MaxProviders usable providers are in use, until the search timeout: bad
// records are skipped past rather than filling the provider slots. Whenever
// no usable provider is left after a query (none was found, or all were
// dropped since: a seeder past its budget answers busy) the DHT is asked
// again after a pause, since records appear as the zone's first fetchers
// finish. A provider that answered busy proves the artifact is spreading
// through the zone, so a search that ends without a provider after one
// gets BusySearchRounds more timeouts before the vendor's origin is asked.
//
// After the search, the transfer goes on with the providers it found; if
// every one of them is dropped (a seeder's budget ran out, a peer stalled)
// and the peers delivered bytes since the search began, it searches again
// rather than sending the rest to the vendor's origin: by then more of the
// zone holds the artifact. A search round that brings no byte is the last.
func (f *fetch) search(ctx context.Context, t *transfer) {
	defer t.searchDone()
	if !f.addSeeds(ctx, t) || f.s.router == nil || !f.seedsFirst(ctx, t) {
		return
	}
	f.searched.Store(true)
	for mark := int64(0); ; mark = t.newRound() {
		f.searchRounds(ctx, t)
		if !t.waitStarved(ctx) || !t.deliveredSince(mark) {
			return
		}
	}
}

// seedsFirst lets a fetch with seeds pull from them alone for
// SeedOnlyWindow: a small artifact is done by then, without a DHT walk.
// It reports whether the search should go on: the transfer is still
// running after the window, or no seed is usable (none was given, every
// one failed or answered busy with no hint left to ask).
func (f *fetch) seedsFirst(ctx context.Context, t *transfer) bool {
	if len(f.seeds) == 0 && f.opts.lateSeeds == nil {
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, SeedOnlyWindow)
	defer cancel()
	t.waitStarved(wctx)
	return ctx.Err() == nil && !t.ended()
}

// searchRounds runs one search: ProviderSearchTimeout, and up to
// BusySearchRounds more while it ends starved after a busy answer.
func (f *fetch) searchRounds(ctx context.Context, t *transfer) {
	for round := 0; round <= BusySearchRounds; round++ {
		if !f.searchRound(ctx, t) || !t.sawBusy() {
			return
		}
	}
}

// searchRound searches for one ProviderSearchTimeout. It reports true when
// that ran out with the transfer still going and no provider usable.
func (f *fetch) searchRound(ctx context.Context, t *transfer) bool {
	sctx, cancel := context.WithTimeout(ctx, f.s.cfg.ProviderSearchTimeout)
	defer cancel()
	pause := SearchRetryInterval
	for f.searchOnce(ctx, sctx, t) && t.waitUnusable(sctx) {
		select {
		case <-sctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, MaxSearchRetryInterval)
	}
	return ctx.Err() == nil && sctx.Err() != nil && t.starved()
}

// searchOnce runs one provider query under sctx (the search's deadline);
// providers it adds live as long as ctx (the fetch). It reports false when
// the search should stop (the transfer or sctx ended, or too many
// candidates were tried).
func (f *fetch) searchOnce(ctx, sctx context.Context, t *transfer) bool {
	self := f.s.h.ID()
	for ai := range f.s.router.FindProvidersAsync(sctx, f.want.CID, 0) {
		if ai.ID == self || ai.ID == "" {
			continue
		}
		f.records.Add(1)
		if !t.waitRoom(sctx) {
			return false
		}
		if len(ai.Addrs) > 0 {
			f.s.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		}
		if !t.addProvider(ctx, ai.ID) {
			return false
		}
	}
	return sctx.Err() == nil
}

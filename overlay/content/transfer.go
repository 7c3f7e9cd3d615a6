package content

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/patchnet/patchnet/trust"
)

// transfer pulls an artifact's leaves from several providers at once and
// hands them to a writer in file order.
//
// Work is claimed in runs of up to span leaves within ReorderWindow of the
// write cursor. A provider's workers claim fresh runs first; when none is
// left and the provider has nothing else in flight, one of them steals a run
// another provider has had in flight for StealAfter (the lowest first,
// which is the one holding the writer up), so a slow provider's work is
// redone by fast ones and the first verified copy wins. A provider whose
// request fails is dropped and its unfinished leaves go back to the pool; one
// that sends a block not matching its CID is also marked bad.
type transfer struct {
	ctx context.Context // the fetch's, for providers added by hints
	h   host.Host
	// seedHost dials seeds: h resolving a seed's unknown addresses
	// through the DHT (Service.seedHost); nil dials them through h.
	seedHost     host.Host
	leaves       []leaf
	span         int
	per          int // workers per provider
	maxProviders int
	bufs         *bufferPool
	store        Blockstore // nil: do not keep blocks
	pace         pace       // how slow a provider may deliver

	mu        sync.Mutex
	cond      *sync.Cond
	data      [][]byte    // verified leaves not yet written
	inflight  []int8      // requests currently covering each leaf
	owner     []*source   // first claimant of each in-flight leaf
	claims    []*runClaim // the owner's claim of each in-flight leaf
	stolen    []bool      // a second provider already covers the leaf
	reqs      []*request  // requests in flight
	wake      *time.Timer // wakes claim when a run becomes old enough to steal
	wakeAt    time.Time
	next      int // write cursor
	providers []*source
	live      int  // running workers
	searching bool // providers may still be added
	retrying  int  // hinted peers waiting to be asked again (retryHint)
	busy      bool // a provider answered busy (a seeder past its budget)
	round     int  // the provider search's current round (newRound)
	stopped   error
}

// source is one provider's state within a transfer.
type source struct {
	id     peer.ID
	ctx    context.Context
	cancel context.CancelFunc
	bytes  int64 // leaf bytes delivered first (counted once)
	active int   // requests in flight
	blocks int
	err    error // why the provider was dropped
	hinted bool  // named by a busy provider's hint
	seed   bool  // named by ID alone (Want.Seeds, WithLateSeeds)
	misses int   // times an earlier entry for this hinted peer lacked a block
	round  int   // the search round that added it
	// readBytes and readTime sum the block bytes and the time of s's
	// requests that completed: its pace, for deciding whether it would
	// finish a run sooner than the provider holding it.
	readBytes int64
	readTime  time.Duration
}

// newTransfer prepares a transfer using up to maxProviders providers with
// per requests in flight to each.
func newTransfer(ctx context.Context, h host.Host, maxProviders, per int, store Blockstore) *transfer {
	t := &transfer{ctx: ctx, h: h, per: per, maxProviders: maxProviders, store: store, searching: true, pace: defaultPace}
	t.cond = sync.NewCond(&t.mu)
	return t
}

// addProvider adds p; once leaves are known it gets per workers. Only
// providers still usable count against maxProviders: records of peers that
// fail (anyone may add a provider record to the DHT) must not crowd out the
// honest ones found later. It reports false once the transfer has ended or
// MaxProviderCandidates were tried, when the search should stop.
func (t *transfer) addProvider(ctx context.Context, p peer.ID) bool {
	return t.add(ctx, &source{id: p})
}

// addSeed is addProvider for a seed, dialled through t.seedHost.
func (t *transfer) addSeed(ctx context.Context, p peer.ID) bool {
	return t.add(ctx, &source{id: p, seed: true})
}

// add is addProvider for s, a new source of its kind (seed, hinted).
func (t *transfer) add(ctx context.Context, s *source) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped != nil || len(t.providers) >= MaxProviderCandidates {
		return false
	}
	if t.usable() >= t.maxProviders || !t.retriable(s.id) {
		return true
	}
	s.round = t.round
	t.addSource(ctx, s)
	return true
}

// hostOf is the host that dials s: seeds are named by peer ID alone, and
// only they have their addresses looked up when none is known (a DHT
// record or busy hint without addresses fails at once, as before, so
// bogus records cost no lookups).
func (t *transfer) hostOf(s *source) host.Host {
	if s.seed && t.seedHost != nil {
		return t.seedHost
	}
	return t.h
}

// retriable reports whether p may be added as a provider: it is not in
// use, never sent a bad block, and was not already tried this search
// round. A provider dropped for being busy, lacking a block or stalling
// in an earlier round may have the artifact to serve now; t.mu is held.
func (t *transfer) retriable(p peer.ID) bool {
	for _, s := range t.providers {
		if s.id == p && (s.err == nil || s.round == t.round || errors.Is(s.err, trust.ErrUntrusted)) {
			return false
		}
	}
	return true
}

// newRound starts a search round after the transfer starved, and returns
// the bytes delivered so far.
func (t *transfer) newRound() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.round++
	return t.delivered()
}

// deliveredSince reports whether providers delivered leaf bytes past
// mark (newRound's count).
func (t *transfer) deliveredSince(mark int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.delivered() > mark
}

// delivered is the leaf bytes every provider delivered first; t.mu is
// held.
func (t *transfer) delivered() int64 {
	var n int64
	for _, s := range t.providers {
		n += s.bytes
	}
	return n
}

// addSource starts using s; t.mu is held.
func (t *transfer) addSource(ctx context.Context, s *source) {
	s.ctx, s.cancel = context.WithCancel(ctx)
	t.providers = append(t.providers, s)
	if t.leaves != nil {
		t.spawn(s)
	}
	t.cond.Broadcast()
}

// usable counts providers not dropped; t.mu is held.
func (t *transfer) usable() int {
	n := 0
	for _, s := range t.providers {
		if s.err == nil {
			n++
		}
	}
	return n
}

// addHints adds the peers a busy provider (from, reached at via) named as
// providers, never this node or the busy provider itself. The addresses it
// gave go into the peerstore for TempAddrTTL only, and only those in scope
// (inScope): enough to dial the hint now, never kept as if identify had
// learned them. Hints grant no trust: a hinted peer is one more provider,
// like a DHT record anyone may publish, and every block it sends is checked
// against its CID and the artifact against the announced SHA-256 as for any
// other. One busy frame adds at most MaxBusyHints providers with at most
// MaxBusyHintAddrs addresses each, and a fetch tries at most
// MaxProviderCandidates providers in all, which bounds the dials a server
// pointing its hints at a victim can cause.
func (t *transfer) addHints(from peer.ID, via ma.Multiaddr, hints []busyHint) {
	self := t.h.ID()
	for _, hint := range hints {
		if hint.ID == self || hint.ID == from {
			continue
		}
		if addrs := dialableHint(hint, via); len(addrs) > 0 {
			t.h.Peerstore().AddAddrs(hint.ID, addrs, peerstore.TempAddrTTL)
		}
		if !t.add(t.ctx, &source{id: hint.ID, hinted: true}) {
			return
		}
	}
}

// retryHint asks hinted peer s again after a pause when it answered that
// it lacks a block: a seeder names a peer once it has sent it the last
// block, so the hint often arrives while that peer is still receiving (in
// the 50-agent sim every hinted peer answered "missing" and was dropped).
// At most HintMissRetries times, HintRetryInterval doubling; only a peer
// that speaks the content protocol answers "missing", so retries add no
// dials at a hinted address that is no patchnet node. t.mu is held.
func (t *transfer) retryHint(s *source) {
	if !s.hinted || s.misses >= HintMissRetries {
		return
	}
	t.retrying++
	time.AfterFunc(HintRetryInterval<<s.misses, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.retrying--
		t.cond.Broadcast()
		if t.stopped != nil || t.ctx.Err() != nil || len(t.providers) >= MaxProviderCandidates || t.usable() >= t.maxProviders {
			return
		}
		for _, o := range t.providers {
			if o.id == s.id && o.err == nil {
				return // in use again already
			}
		}
		t.addSource(t.ctx, &source{id: s.id, hinted: true, misses: s.misses + 1, round: t.round})
	})
}

// sawBusy reports whether a provider answered busy.
func (t *transfer) sawBusy() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.busy
}

// starved reports whether the transfer goes on with no usable provider.
func (t *transfer) starved() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopped == nil && t.usable() == 0
}

// ended reports whether the transfer has stopped (done or failed).
func (t *transfer) ended() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopped != nil
}

// waitRoom waits while maxProviders usable providers are in use, so the
// search takes the next record only when one was dropped. It reports false
// when the transfer or ctx ended.
func (t *transfer) waitRoom(ctx context.Context) bool {
	return t.waitWhile(ctx, func() bool { return t.usable() >= t.maxProviders })
}

// waitUnusable waits while some provider is usable, reporting true when
// none is (the search should ask the DHT again) and false when the
// transfer or ctx ended. Providers drop out after a query has ended (a
// seeder answers busy once its budget is spent), and the fetchers that
// finished meanwhile are the ones to ask next.
func (t *transfer) waitUnusable(ctx context.Context) bool {
	return t.waitWhile(ctx, func() bool { return t.usable() > 0 })
}

// waitStarved waits while some provider is usable or a hinted one is
// about to be asked again, reporting true when neither is left (the
// transfer would fail) and false when the transfer or ctx ended.
func (t *transfer) waitStarved(ctx context.Context) bool {
	return t.waitWhile(ctx, func() bool { return t.usable() > 0 || t.retrying > 0 })
}

// waitWhile waits while cond holds (called with t.mu held), reporting
// false when the transfer or ctx ended first.
func (t *transfer) waitWhile(ctx context.Context, cond func() bool) bool {
	stop := context.AfterFunc(ctx, func() {
		t.mu.Lock()
		t.cond.Broadcast()
		t.mu.Unlock()
	})
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.stopped == nil && ctx.Err() == nil && cond() {
		t.cond.Wait()
	}
	return t.stopped == nil && ctx.Err() == nil
}

// searchDone records that no more providers will be added.
func (t *transfer) searchDone() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.searching = false
	t.cond.Broadcast()
}

// start sets the leaves to fetch and sets every provider's workers going.
func (t *transfer) start(leaves []leaf) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leaves = leaves
	// Runs small enough that every worker of every provider the fetch may
	// use gets a share (providers found late still find work), large enough
	// that a request's turnaround is small beside its transfer.
	t.span = max(1, min(SpanBlocks, len(leaves)/(2*t.maxProviders*t.per)))
	t.bufs = newBufferPool(ReorderWindow + 2*MaxProviders*StreamsPerProvider)
	t.data = make([][]byte, len(leaves))
	t.inflight = make([]int8, len(leaves))
	t.owner = make([]*source, len(leaves))
	t.claims = make([]*runClaim, len(leaves))
	t.stolen = make([]bool, len(leaves))
	for _, s := range t.providers {
		if s.err == nil {
			t.spawn(s)
		}
	}
}

// spawn starts s's workers; t.mu is held.
func (t *transfer) spawn(s *source) {
	t.live += t.per
	for range t.per {
		go t.work(s)
	}
}

// fetchNodes gets DAG nodes from the first good provider that can serve
// them all, dropping those that fail.
func (t *transfer) fetchNodes(ctx context.Context, cids []cid.Cid) ([][]byte, error) {
	sizes := make([]int, len(cids))
	for i := range sizes {
		sizes[i] = -1
	}
	for {
		s, err := t.firstGood(ctx)
		if err != nil {
			return nil, err
		}
		out := make([][]byte, len(cids))
		err = requestBlocks(s.ctx, t.hostOf(s), s.id, cids, sizes, nil, t.pace, nil, func(i int, d []byte) error {
			out[i] = d
			return nil
		})
		if err == nil {
			return out, nil
		}
		t.drop(s, err)
	}
}

// firstGood waits for a provider not yet dropped, while the search runs.
func (t *transfer) firstGood(ctx context.Context) (*source, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if s := t.goodProvider(); s != nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !t.searching && t.retrying == 0 {
			return nil, t.failure()
		}
		t.cond.Wait()
	}
}

// goodProvider is the first provider not dropped that this node is
// connected to, else the first not dropped, else nil: a DAG node asked of
// one still dialling waits for its handshakes; t.mu is held.
func (t *transfer) goodProvider() *source {
	var first *source
	for _, s := range t.providers {
		if s.err != nil {
			continue
		}
		if t.hostOf(s).Network().Connectedness(s.id) == network.Connected {
			return s
		}
		if first == nil {
			first = s
		}
	}
	return first
}

// work is one worker's loop: claim a run, request it, release it. A
// request called off because other requests delivered its run first
// (supersede) says nothing against s.
func (t *transfer) work(s *source) {
	defer t.exit()
	for {
		r := t.claim(s)
		if r == nil {
			return
		}
		start := time.Now()
		err := t.fetchRun(r)
		superseded := t.release(r)
		switch {
		case err != nil && superseded:
			continue
		case err != nil:
			t.drop(s, err)
			return
		}
		t.paced(s, r.run, time.Since(start))
	}
}

func (t *transfer) exit() {
	t.mu.Lock()
	t.live--
	t.cond.Broadcast()
	t.mu.Unlock()
}

// fetchRun makes request r of its provider and delivers what arrives,
// counting it on the provider's claim of the run (not on a stolen copy).
func (t *transfer) fetchRun(r *request) error {
	cids := make([]cid.Cid, len(r.run))
	sizes := make([]int, len(r.run))
	for i, j := range r.run {
		cids[i], sizes[i] = t.leaves[j].c, t.leaves[j].size
	}
	return requestBlocks(r.ctx, t.hostOf(r.s), r.s.id, cids, sizes, t.bufs, t.pace, r.got, func(i int, data []byte) error {
		if t.store != nil {
			if err := t.store.PutVerified(r.ctx, cids[i], data); err != nil {
				return fmt.Errorf("storing fetched block: %w", err)
			}
		}
		t.deliver(r.run[i], data, r)
		return nil
	})
}

// deliver files a verified leaf of r's; a duplicate (stolen run finished
// second) is recycled.
func (t *transfer) deliver(i int, data []byte, r *request) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < t.next || t.data[i] != nil {
		t.bufs.put(data)
		return
	}
	t.data[i] = data
	r.s.bytes += int64(len(data))
	r.s.blocks++
	t.supersede(i, r)
	t.cond.Broadcast()
}

// drop stops using s after err. A busy provider's hints (peers it served a
// copy) become providers, as a DHT record would.
func (t *transfer) drop(s *source, err error) {
	var be *busyError
	if errors.As(err, &be) {
		defer t.addHints(be.from, be.via, be.hints)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.err == nil {
		s.err = err
		if errors.Is(err, errMissing) {
			t.retryHint(s)
		}
	}
	if errors.Is(err, ErrBusy) {
		t.busy = true
	}
	s.cancel()
	t.cond.Broadcast()
}

// stop ends the transfer; workers exit at their next claim.
func (t *transfer) stop(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped == nil {
		t.stopped = err
	}
	for _, s := range t.providers {
		s.cancel()
	}
	if t.wake != nil {
		t.wake.Stop()
	}
	t.cond.Broadcast()
}

// nextLeaf waits for the leaf at the write cursor and advances past it. It
// fails once no worker is left to deliver it.
func (t *transfer) nextLeaf(ctx context.Context) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.data[t.next] == nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case t.stopped != nil:
			return nil, t.stopped
		case t.live == 0 && !t.searching && t.retrying == 0:
			return nil, t.failure()
		}
		t.cond.Wait()
	}
	d := t.data[t.next]
	t.data[t.next] = nil
	t.next++
	t.cond.Broadcast()
	return d, nil
}

// failure explains why every provider was dropped.
func (t *transfer) failure() error {
	errs := []error{ErrNoSource}
	for _, s := range t.providers {
		if s.err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", s.id, s.err))
		}
	}
	return errors.Join(errs...)
}

// stats reports each provider's share and fate.
func (t *transfer) stats() []ProviderStat {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ProviderStat, len(t.providers))
	for i, s := range t.providers {
		out[i] = ProviderStat{Peer: s.id, Bytes: s.bytes, Blocks: s.blocks, Err: s.err,
			Bad: errors.Is(s.err, trust.ErrUntrusted)}
	}
	return out
}

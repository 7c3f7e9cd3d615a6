package content

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/routing"
)

// Provider announces the roots this node holds through the DHT and
// announces them again every interval, before the records (48 h in kad-dht)
// expire. Only roots are provided: a fetcher needs the root to find
// providers, and one record per artifact keeps DHT traffic small.
type Provider struct {
	router   routing.ContentRouting
	interval time.Duration
	enabled  bool

	mu      sync.Mutex
	roots   map[cid.Cid]struct{}
	due     map[cid.Cid]firstAnnounce // first announces Run makes (ProvideWithin)
	kick    chan struct{}             // tells Run an announce was scheduled
	errs    func(cid.Cid, error)      // nil: ignore; the node logs them
	pending sync.WaitGroup            // background announces (ProvideLater)
}

// NewProvider returns a Provider. With enabled false (the operator opted
// out) it remembers roots but never announces them.
func NewProvider(router routing.ContentRouting, interval time.Duration, enabled bool) *Provider {
	return &Provider{router: router, interval: interval, enabled: enabled,
		roots: make(map[cid.Cid]struct{}), due: make(map[cid.Cid]firstAnnounce), kick: make(chan struct{}, 1)}
}

// firstAnnounce is a root's first announce, which Run makes at a random
// time: when the zone's fetchers finish together, a thousand walks to the
// same twenty closest peers at once would swamp them.
type firstAnnounce struct {
	at time.Time
	// check: at its time Run first asks the DHT for holders and, if it
	// names ProvideRecordsEnough of them, postpones the announce to a
	// random point within the reprovide interval (unchecked then).
	check bool
}

// OnError sets a callback for failed re-provides (Run carries on after
// them).
func (p *Provider) OnError(fn func(cid.Cid, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = fn
}

// Provide records c as held and announces it now.
func (p *Provider) Provide(ctx context.Context, c cid.Cid) error {
	p.mu.Lock()
	p.roots[c] = struct{}{}
	delete(p.due, c)
	p.mu.Unlock()
	return p.announce(ctx, c)
}

// ProvideLater records c as held and announces it in the background, so a
// fetch returns without waiting for the DHT (a provide walks the network and
// can take a while). Failures go to the OnError callback.
func (p *Provider) ProvideLater(c cid.Cid) {
	p.mu.Lock()
	p.roots[c] = struct{}{}
	delete(p.due, c)
	p.mu.Unlock()
	if !p.enabled || p.router == nil {
		return
	}
	p.pending.Go(func() {
		if err := p.announce(context.Background(), c); err != nil {
			p.report(c, err)
		}
	})
}

// ProvideWithin records c as held and has Run announce it once at a
// random point within d — unless the DHT then already names
// ProvideRecordsEnough holders of c: then at a random point within the
// reprovide interval. For an artifact the zone serves well (its seeds
// covered the fetch): fetchers find enough holders without this one, and
// a rollout's every agent walking to the same twenty closest peers to
// provide was, at 1,000 sim agents, the connection churn that tipped the
// zone into minutes-long fetches (BENCHMARKS.md). Every holder still
// provides within the reprovide interval, so records that name holders
// gone, or that an attacker planted, delay this node's record and do not
// suppress it. A root announced meanwhile (Provide, a re-provide) is not
// announced again; one Forgotten is not announced.
func (p *Provider) ProvideWithin(c cid.Cid, d time.Duration) {
	p.schedule(c, d, true)
}

// ProvideEventually records c as held and has Run announce it once at a
// random point within the reprovide interval, unchecked: for a root the
// caller's own DHT search found ProvideRecordsEnough holders of.
func (p *Provider) ProvideEventually(c cid.Cid) {
	p.schedule(c, p.interval, false)
}

// schedule records c as held and, unless an announce of it is due already,
// schedules its first one at a random point within d.
func (p *Provider) schedule(c cid.Cid, d time.Duration, check bool) {
	p.mu.Lock()
	p.roots[c] = struct{}{}
	if _, ok := p.due[c]; !ok && p.enabled && p.router != nil {
		p.due[c] = firstAnnounce{at: time.Now().Add(rand.N(d + 1)), check: check}
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Due lists the roots awaiting their first announce (ProvideWithin,
// ProvideEventually).
func (p *Provider) Due() []cid.Cid {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sortedCIDs(maps.Keys(p.due))
}

// Postponed lists the roots whose first announce waits, unchecked, for a
// point within the reprovide interval: the DHT named plenty of holders
// (ProvideWithin's check) or the fetch's search did (ProvideEventually).
func (p *Provider) Postponed() []cid.Cid {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []cid.Cid
	for c, a := range p.due {
		if !a.check {
			out = append(out, c)
		}
	}
	return sortedCIDs(slices.Values(out))
}

// wait returns once background announces have finished (tests use it to
// observe the DHT after a fetch).
func (p *Provider) wait() { p.pending.Wait() }

// Forget stops announcing c (its records expire on their own).
func (p *Provider) Forget(c cid.Cid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.roots, c)
	delete(p.due, c)
}

// Roots lists the roots held, sorted for stable output.
func (p *Provider) Roots() []cid.Cid {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sortedCIDs(maps.Keys(p.roots))
}

// sortedCIDs collects cs sorted, for stable output.
func sortedCIDs(cs iter.Seq[cid.Cid]) []cid.Cid {
	return slices.SortedFunc(cs, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
}

// Run re-provides every held root each interval, and makes the announces
// ProvideWithin scheduled when they fall due, until ctx ends.
func (p *Provider) Run(ctx context.Context) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	next := time.NewTimer(time.Hour)
	defer next.Stop()
	for {
		next.Reset(p.untilDue())
		var roots []cid.Cid
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.kick:
			continue
		case <-next.C:
			roots = p.checkDue(ctx, p.takeDue(time.Now()))
		case <-tick.C:
			roots = p.Roots()
			p.undue(roots...) // announced now
		}
		p.announceAll(ctx, roots)
	}
}

// untilDue is how long until the next scheduled announce (an hour when
// none is: Run is woken by kick when one is scheduled).
func (p *Provider) untilDue() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	wait := time.Hour
	for _, a := range p.due {
		wait = min(wait, max(time.Until(a.at), 0))
	}
	return wait
}

// takeDue removes and returns the scheduled roots due by now.
func (p *Provider) takeDue(now time.Time) map[cid.Cid]firstAnnounce {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[cid.Cid]firstAnnounce{}
	for c, a := range p.due {
		if !a.at.After(now) {
			out[c] = a
			delete(p.due, c)
		}
	}
	return out
}

// checkDue returns the due roots to announce now: those not to be
// checked, and those the DHT names fewer than ProvideRecordsEnough holders
// of. The others are postponed.
func (p *Provider) checkDue(ctx context.Context, due map[cid.Cid]firstAnnounce) []cid.Cid {
	var now []cid.Cid
	for _, c := range sortedCIDs(maps.Keys(due)) {
		if due[c].check && p.heldWidely(ctx, c) {
			p.postpone(c)
			continue
		}
		now = append(now, c)
	}
	return now
}

// heldWidely reports whether the DHT names at least ProvideRecordsEnough
// holders of c within ProvideCheckTimeout. kad-dht ends the query at that
// many, usually at the first of the closest peers, which hold the records;
// a provide's walk must reach all twenty and then send each one the
// record.
func (p *Provider) heldWidely(ctx context.Context, c cid.Cid) bool {
	ctx, cancel := context.WithTimeout(ctx, ProvideCheckTimeout)
	defer cancel()
	n := 0
	for range p.router.FindProvidersAsync(ctx, c, ProvideRecordsEnough) {
		if n++; n >= ProvideRecordsEnough {
			return true
		}
	}
	return false
}

// postpone schedules c's first announce, unchecked, at a random point
// within the reprovide interval, if c is still held and not scheduled
// again meanwhile.
func (p *Provider) postpone(c cid.Cid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, held := p.roots[c]; !held {
		return
	}
	if _, ok := p.due[c]; !ok {
		p.due[c] = firstAnnounce{at: time.Now().Add(rand.N(p.interval + 1))}
	}
}

// undue cancels the scheduled announces of cs: they are being announced.
func (p *Provider) undue(cs ...cid.Cid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.due, c)
	}
}

// announceAll announces roots one after another, reporting failures.
func (p *Provider) announceAll(ctx context.Context, roots []cid.Cid) {
	for _, c := range roots {
		if err := p.announce(ctx, c); err != nil && ctx.Err() == nil {
			p.report(c, err)
		}
	}
}

func (p *Provider) announce(ctx context.Context, c cid.Cid) error {
	if !p.enabled || p.router == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ProvideTimeout)
	defer cancel()
	if err := p.router.Provide(ctx, c, true); err != nil {
		return fmt.Errorf("providing %s: %w", c, err)
	}
	return nil
}

func (p *Provider) report(c cid.Cid, err error) {
	p.mu.Lock()
	fn := p.errs
	p.mu.Unlock()
	if fn != nil {
		fn(c, err)
	}
}

package content

import (
	"context"
	"fmt"
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
	errs    func(cid.Cid, error) // nil: ignore; the node logs them
	pending sync.WaitGroup       // background announces (ProvideLater)
}

// NewProvider returns a Provider. With enabled false (the operator opted
// out) it remembers roots but never announces them.
func NewProvider(router routing.ContentRouting, interval time.Duration, enabled bool) *Provider {
	return &Provider{router: router, interval: interval, enabled: enabled, roots: make(map[cid.Cid]struct{})}
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
	p.mu.Unlock()
	return p.announce(ctx, c)
}

// ProvideLater records c as held and announces it in the background, so a
// fetch returns without waiting for the DHT (a provide walks the network and
// can take a while). Failures go to the OnError callback.
func (p *Provider) ProvideLater(c cid.Cid) {
	p.mu.Lock()
	p.roots[c] = struct{}{}
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

// wait returns once background announces have finished (tests use it to
// observe the DHT after a fetch).
func (p *Provider) wait() { p.pending.Wait() }

// Forget stops announcing c (its records expire on their own).
func (p *Provider) Forget(c cid.Cid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.roots, c)
}

// Roots lists the roots held, sorted for stable output.
func (p *Provider) Roots() []cid.Cid {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]cid.Cid, 0, len(p.roots))
	for c := range p.roots {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
	return out
}

// Run re-provides every held root each interval until ctx ends.
func (p *Provider) Run(ctx context.Context) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		for _, c := range p.Roots() {
			if err := p.announce(ctx, c); err != nil && ctx.Err() == nil {
				p.report(c, err)
			}
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

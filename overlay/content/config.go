package content

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Config tunes a Service. Keys mirror the agent's TOML [content] table.
type Config struct {
	// Provide keeps fetched artifacts' blocks and announces them in the
	// DHT so other nodes fetch from here (TOML provide). Operators who
	// must not serve content set false: fetched blocks are then not kept,
	// so the server has none of them to serve (what this node Adds itself
	// it still serves, as a seed).
	Provide bool
	// ReprovideInterval is how often held roots are provided again (TOML
	// reprovide_interval); it must stay below the DHT's 48 h record validity.
	ReprovideInterval time.Duration
	// ProvideSpread is how long the first provide of an artifact whose
	// fetch its seeds covered alone may wait, at a random point, so a
	// zone's fetchers finishing together do not walk the DHT at once
	// (TOML provide_spread; 0: at once). At that point the DHT is asked
	// first: with ProvideRecordsEnough holders named, the provide waits
	// for a point within ReprovideInterval instead. A fetch that needed
	// the DHT provides at once (unless its search named that many).
	ProvideSpread time.Duration
	// ProviderSearchTimeout bounds the DHT search before the vendor URL is
	// tried (TOML provider_search_timeout).
	ProviderSearchTimeout time.Duration
	// MaxProviders is how many providers one fetch pulls from at once
	// (TOML max_providers).
	MaxProviders int
	// StreamsPerProvider is how many requests are kept in flight to each
	// provider (TOML streams_per_provider).
	StreamsPerProvider int
	// ServeStreamsPerPeer bounds one peer's concurrent requests to this
	// node (TOML serve_streams_per_peer).
	ServeStreamsPerPeer int
	// SeedServeCopies is the serve budget of each artifact this node seeded
	// (Add), in whole copies: past it, requests for its blocks are answered
	// busy and fetchers turn to other providers (TOML seed_serve_copies).
	// 0 lifts the budget. What this node fetched is never budgeted.
	SeedServeCopies int
	// Admitted, when set, is asked before each request is served: false
	// refuses the peer. The node passes (*overlay.Overlay).WaitAdmitted, so
	// a private zone serves only peers that passed admission. nil serves
	// every peer. Not a TOML key.
	Admitted func(ctx context.Context, p peer.ID) bool
	// LocateSeed, when set, finds the addresses of a seed this node is not
	// connected to and knows no address of; without it such a seed fails
	// "no addresses". The node passes (*overlay.Overlay).LocatePeer, which
	// asks the zone's signers it is connected to. Only seeds are located:
	// DHT records and busy hints, which anyone can publish, are not. Not
	// a TOML key.
	LocateSeed func(ctx context.Context, p peer.ID) (peer.AddrInfo, error)

	// sendRate caps this node's serving rate in bytes per second (0: no
	// cap). Only tests set it, to model providers on slow links.
	sendRate float64
	// stall replaces StallTimeout when set. Only tests set it, so a slow
	// provider outlasts it in seconds rather than minutes.
	stall time.Duration
	// minRate replaces MinProviderRate when set (bytes/s); only tests.
	minRate float64
	// stealAfter replaces StealAfter when set; only tests.
	stealAfter time.Duration
}

// pace is defaultPace with what a test set instead.
func (c Config) pace() pace {
	p := defaultPace
	if c.stall > 0 {
		p.stall = c.stall
	}
	if c.minRate > 0 {
		p.minRate = c.minRate
	}
	if c.stealAfter > 0 {
		p.stealAfter = c.stealAfter
	}
	return p
}

// DefaultConfig returns the configuration an agent runs with.
func DefaultConfig() Config {
	return Config{
		Provide:               true,                     // origin egress stays flat only if fetchers serve
		ReprovideInterval:     ReprovideInterval,        // kad-dht's own default
		ProvideSpread:         SeedCoveredProvideSpread, // the zone already serves it
		ProviderSearchTimeout: ProviderSearchTimeout,    // then the vendor URL
		MaxProviders:          4,                        // 4 measured ≥3× one capped provider
		StreamsPerProvider:    StreamsPerProvider,       // overlap request turnarounds
		ServeStreamsPerPeer:   ServeStreamsPerPeer,      // ≥ StreamsPerProvider of an honest peer
		SeedServeCopies:       SeedServeCopies,          // origin egress ≈ one copy; peers serve the rest
	}
}

// Validate reports the first field out of range, naming it and its value.
func (c Config) Validate() error {
	switch {
	case c.ReprovideInterval < time.Millisecond || c.ReprovideInterval >= 48*time.Hour:
		return fmt.Errorf("content: reprovide_interval %v must be between 1ms and 48h", c.ReprovideInterval)
	case c.ProvideSpread < 0 || c.ProvideSpread > c.ReprovideInterval:
		return fmt.Errorf("content: provide_spread %v must be between 0 and reprovide_interval (%v)", c.ProvideSpread, c.ReprovideInterval)
	case c.ProviderSearchTimeout <= 0:
		return fmt.Errorf("content: provider_search_timeout %v must be positive", c.ProviderSearchTimeout)
	case c.MaxProviders < 1 || c.MaxProviders > MaxProviders:
		return fmt.Errorf("content: max_providers %d must be 1..%d", c.MaxProviders, MaxProviders)
	case c.StreamsPerProvider < 1 || c.StreamsPerProvider > ServeStreamsPerPeer:
		return fmt.Errorf("content: streams_per_provider %d must be 1..%d", c.StreamsPerProvider, ServeStreamsPerPeer)
	case c.ServeStreamsPerPeer < 1 || c.ServeStreamsPerPeer > 64:
		return fmt.Errorf("content: serve_streams_per_peer %d must be 1..64", c.ServeStreamsPerPeer)
	case c.SeedServeCopies < 0 || c.SeedServeCopies > MaxSeedServeCopies:
		return fmt.Errorf("content: seed_serve_copies %d must be 0..%d", c.SeedServeCopies, MaxSeedServeCopies)
	case c.sendRate < 0:
		return fmt.Errorf("content: send rate %v must not be negative", c.sendRate)
	}
	return nil
}

package content

import (
	"context"
	"errors"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	routedhost "github.com/libp2p/go-libp2p/p2p/host/routed"

	"github.com/patchnet/patchnet/updates"
)

// Service is a node's content layer: it serves blocks from its store over
// ProtocolID (and ProtocolIDv1 for older nodes), provides held roots through the router (normally the zone's
// kad-dht), and fetches artifacts (Fetch).
type Service struct {
	h host.Host
	// seedHost dials a fetch's seeds (seedHost): nil without a router
	// that finds peers.
	seedHost host.Host
	router   routing.ContentRouting
	store    Blockstore
	cfg      Config
	srv      *server
	budget   *serveBudget // what is served of artifacts seeded by Add
	prov     *Provider
	// vendorOpts carries the one HTTP client all vendor fetches share.
	vendorOpts updates.FetchOptions
}

// New starts serving store's blocks on h. router may be nil (no DHT: vendor
// URLs only, nothing provided); store may be nil for a fetch-only client
// that keeps nothing and serves nothing.
func New(h host.Host, router routing.ContentRouting, store Blockstore, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("content: host is nil")
	}
	s := &Service{h: h, seedHost: seedHost(h, cfg.LocateSeed), router: router, store: store, cfg: cfg,
		prov:       NewProvider(router, cfg.ReprovideInterval, cfg.Provide && router != nil),
		vendorOpts: updates.FetchOptions{Client: updates.NewFetchClient()},
		budget:     newServeBudget(cfg.SeedServeCopies)}
	if store != nil {
		s.srv = newServer(h, store, cfg.ServeStreamsPerPeer, cfg.sendRate, cfg.Admitted, s.budget)
		s.srv.pace = cfg.pace()
		h.SetStreamHandler(ProtocolID, s.srv.handle)
		h.SetStreamHandler(ProtocolIDv1, s.srv.handle)
	}
	return s, nil
}

// seedHost is h resolving unknown peers through locate (go-libp2p's
// routed host), or nil without one: a fetch's seeds are named by peer ID
// alone (the supernodes whose co-signatures were heard), and an agent
// connected to some supernodes has no addresses for the others (a dial
// then failed "no addresses" and the fetch lost that seed). The lookup
// happens only for a seed the host is not connected to and knows no
// address of — at most MaxSeeds a fetch, never for a DHT record or busy
// hint — and whatever the seed serves is still checked block by block.
func seedHost(h host.Host, locate func(context.Context, peer.ID) (peer.AddrInfo, error)) host.Host {
	if locate == nil {
		return nil
	}
	return routedhost.Wrap(h, locateFunc(locate))
}

// locateFunc is a function as the routed host's peer routing.
type locateFunc func(context.Context, peer.ID) (peer.AddrInfo, error)

func (f locateFunc) FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error) { return f(ctx, p) }

// stagingDir is where vendor bytes wait for their digest check: the disk
// store's temp directory (emptied when the store is opened, so a crash's
// leftovers do not last), else the system's ("" to os.CreateTemp).
func (s *Service) stagingDir() string {
	if d, ok := s.store.(*DiskStore); ok {
		return d.tempDir()
	}
	return ""
}

// Close stops serving. Fetches in progress carry on.
func (s *Service) Close() error {
	if s.srv != nil {
		s.h.RemoveStreamHandler(ProtocolID)
		s.h.RemoveStreamHandler(ProtocolIDv1)
	}
	return nil
}

// Served is how many block bytes the service has served to peers since it
// started (the artifact's leaves and its DAG's few internal nodes): the
// node's share of the zone's distribution, for status and harnesses.
func (s *Service) Served() int64 {
	if s.srv == nil {
		return 0
	}
	return s.srv.served.Load()
}

// Run re-provides held roots every ReprovideInterval until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.prov.Run(ctx)
}

// Provider returns the service's provider, to add roots held from a previous
// run or see which are held.
func (s *Service) Provider() *Provider {
	return s.prov
}

// Add imports an artifact into the store and provides it in the background:
// how a publisher, a co-signing supernode or an air-gapped import seeds the
// zone. The artifact is served under the seed budget
// (Config.SeedServeCopies): a few whole copies, then "busy", so the
// fetchers serve each other and the seeder's egress stays flat. The provide is not waited for: a DHT walk that meets a stalled peer
// takes tens of seconds, and a supernode co-signs only after seeding, so
// waiting delayed every co-signature by it. A fetcher searching meanwhile
// keeps searching until its ProviderSearchTimeout, so it finds the record
// once the walk stores it; failures reach the provider's OnError.
func (s *Service) Add(ctx context.Context, r io.Reader) (cid.Cid, error) {
	if s.store == nil {
		return cid.Undef, errors.New("adding artifact: service has no block store")
	}
	rec := &recordBlocks{Blockstore: s.store, blocks: make(map[cid.Cid]int)}
	c, err := Import(ctx, r, rec)
	if err != nil {
		return cid.Undef, err
	}
	s.budget.seed(rec.blocks)
	s.prov.ProvideLater(c)
	return c, nil
}

package overlay

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/trust"
)

// Overlay is one node's presence in a zone: its libp2p host, the zone's
// gossip topics, admission of peers, catch-up and the DHT.
type Overlay struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	host   host.Host
	dht    *dht.IpfsDHT
	dhtpm  *dhtpb.ProtocolMessenger // single DHT requests (LocatePeer)
	gater  *gater
	stats  *counters
	gossip *gossip
	auth   *admission
	sync   *syncer
	boot   *bootstrapLog

	redial chan struct{} // capacity 1: RedialBootstrap asked for a round

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New starts a node's overlay with key as its libp2p identity, so its peer
// ID is the one its certificate names. The host listens on cfg.ListenAddrs
// over TCP and (in public zones) QUIC, secured by Noise and multiplexed by
// yamux, with the resource manager on; a private zone adds the pre-shared
// key and admits only peers with a certificate of the zone.
func New(ctx context.Context, key crypto.Signer, cfg Config, deps Deps) (*Overlay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.check(cfg); err != nil {
		return nil, err
	}
	g := newGater()
	h, err := newHost(key, cfg, g, deps.HostOptions)
	if err != nil {
		return nil, err
	}
	o, err := start(ctx, h, cfg, deps, g)
	if err != nil {
		h.Close()
		return nil, err
	}
	return o, nil
}

// newHost builds the libp2p host.
// extra (Deps.HostOptions) comes last, so it can replace a default.
func newHost(key crypto.Signer, cfg Config, g *gater, extra []libp2p.Option) (host.Host, error) {
	priv, err := trust.LibP2PKey(key)
	if err != nil {
		return nil, fmt.Errorf("converting node key: %w", err)
	}
	rm, err := newResourceManager(cfg.Resources)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.Resources.ConnLow, cfg.Resources.ConnHigh, connmgr.WithGracePeriod(ConnGracePeriod))
	if err != nil {
		return nil, fmt.Errorf("starting connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		// TLS first: with AES-NI it moved artifacts about 2x faster than
		// Noise here (BENCHMARKS.md, overlay/content); Noise stays offered
		// for peers that prefer it.
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		// No SO_REUSEPORT: two nodes dialling each other at once from their
		// listen ports make one TCP connection by simultaneous open, where
		// both sides act as the TLS/Noise client and the handshake fails
		// (seen in this project's tests). patchnet does no hole punching,
		// which is what reusing the listen port is for.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(g),
		libp2p.DisableMetrics(),
		// No black-hole detection: after 100 UDP (or IPv6) dials with
		// fewer than 5 successes the swarm refuses every further dial of
		// that kind but for a rare probe. A zone's crowd trips it without
		// any black hole: agents dialling supernodes and peers whose
		// resource managers refuse newcomers fail most dials, and a sim
		// agent of a 300-agent zone then could not reach its co-signing
		// supernodes to fetch ("dial refused because of black hole"). Where
		// UDP is really blocked, the dial ranker falls back to TCP.
		libp2p.UDPBlackHoleSuccessCounter(nil),
		libp2p.IPv6BlackHoleSuccessCounter(nil),
	}
	if cfg.PrivateZone.Enabled() {
		psk, err := cfg.PrivateZone.Key()
		if err != nil {
			return nil, err
		}
		opts = append(opts, libp2p.PrivateNetwork(psk))
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	if len(cfg.AnnounceAddrs) > 0 {
		announce := make([]ma.Multiaddr, 0, len(cfg.AnnounceAddrs))
		for _, s := range cfg.AnnounceAddrs {
			announce = append(announce, ma.StringCast(s))
		}
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	h, err := libp2p.New(append(opts, extra...)...)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("starting libp2p host: %w", err)
	}
	return h, nil
}

// start wires gossip, admission, catch-up and the DHT onto a host. Tests
// use it directly on mocknet hosts.
func start(parent context.Context, h host.Host, cfg Config, deps Deps, g *gater) (*Overlay, error) {
	ctx, cancel := context.WithCancel(parent)
	o := &Overlay{cfg: cfg, deps: deps, log: deps.Logger, host: h, gater: g, stats: &counters{}, ctx: ctx, cancel: cancel,
		boot: newBootstrapLog(deps.Logger), redial: make(chan struct{}, 1)}
	o.auth = newAdmission(ctx, &o.wg, h, cfg, deps, g, o.stats)
	gs, err := newGossip(ctx, &o.wg, h, cfg, deps, o.stats, o.auth.appScore)
	if err != nil {
		cancel()
		return nil, err
	}
	o.gossip = gs
	gs.onGraylisted(o.dropGraylisted)
	o.sync = newSyncer(ctx, &o.wg, h, cfg, deps, gs, o.stats, o.WaitAdmitted)
	o.auth.admitted = o.sync.admitted
	gs.onSubscribe = func(topic string) {
		if topic == AnnounceTopic(cfg.Zone) {
			o.sync.announceSubscribed(o.auth.settled)
		}
	}
	gs.mesh.onFormed(func(topic string, p peer.ID) {
		if topic == AnnounceTopic(cfg.Zone) {
			o.sync.meshFormed(p)
		}
	})
	if err := o.startDHT(); err != nil {
		o.shutdown()
		return nil, err
	}
	o.wg.Add(1)
	go o.bootstrapLoop()
	if o.dht != nil {
		o.wg.Add(1)
		go o.refreshLoop()
	}
	o.wg.Add(1)
	go o.relinkLoop()
	if cfg.Sync.Interval > 0 {
		o.wg.Add(1)
		go o.sync.antiEntropy(o.auth.settled)
	}
	return o, nil
}

func (o *Overlay) startDHT() error {
	if o.cfg.DHT.Mode == DHTModeOff {
		return nil
	}
	mode := dht.ModeServer
	if o.cfg.DHT.Mode == DHTModeClient {
		mode = dht.ModeClient
	}
	prefix := o.cfg.DHT.ProtocolPrefix
	if prefix == "" {
		prefix = TopicPrefix + o.cfg.Zone
	}
	boot := o.cfg.bootstrapInfos()
	// No refresh at start (refreshLoop): kad-dht's runs a lookup per
	// bucket twice as a node comes up, each connecting it to the peers it
	// asks — a hundred handshakes an agent, most of a zone's set-up CPU
	// when a thousand start together. discover looks for peers when the
	// node has too few.
	d, err := dht.New(dhtHost{o.host}, dht.Mode(mode), dht.ProtocolPrefix(protocol.ID(prefix)), dht.BootstrapPeers(boot...),
		dht.DisableAutoRefresh())
	if err != nil {
		return fmt.Errorf("starting DHT: %w", err)
	}
	o.dht = d
	if o.dhtpm, err = dhtpb.NewProtocolMessenger(d.MessageSender()); err != nil {
		return fmt.Errorf("starting DHT: %w", err)
	}
	return nil
}

// bootstrapLoop dials the bootstrap peers at start and whenever this node
// has fewer than MinPeers connections (after an outage, say), and looks for
// more peers through the DHT while it has fewer than DiscoveryPeers.
func (o *Overlay) bootstrapLoop() {
	defer o.wg.Done()
	if len(o.cfg.BootstrapPeers) == 0 {
		return
	}
	interval := time.Duration(o.cfg.BootstrapInterval)
	t := time.NewTicker(interval)
	defer t.Stop()
	d := discovery{wait: interval}
	for {
		if n := len(o.host.Network().Peers()); n == 0 {
			// Cut off: the swarm's backoff from the dials that failed
			// meanwhile (up to 5 minutes) would only delay rejoining;
			// this loop's interval paces the dials.
			o.dialBootstrap(network.WithForceDirectDial(o.ctx, "rejoining: no peer connected"))
		} else if n < MinPeers {
			o.dialBootstrap(o.ctx)
		}
		o.discover(&d, interval)
		select {
		case <-o.ctx.Done():
			return
		case <-t.C:
		case <-o.redial:
			o.dialBootstrap(network.WithForceDirectDial(o.ctx, "redialling bootstrap peers while cut off"))
		}
	}
}

// discovery paces DHT refreshes: next is the earliest time of the next one,
// wait the pause after a refresh that found nobody new.
type discovery struct {
	next time.Time
	wait time.Duration
}

// discover looks up this node's own key in the DHT (the lookup connects
// it to the peers it asks, the closest to it first) when the node has
// fewer than DiscoveryPeers connections and its pause is over. A lookup
// that found no new peer doubles the pause, up to MaxDiscoveryBackoff.
// With no peer at all there is nobody to ask: no lookup, and the pause
// starts over, so the first loop that has a peer again (its bootstrap
// peer back) looks at once; before, the lookups that failed while it was
// cut off had doubled the pause, and an agent whose bootstrap peer was
// unreachable for its first minutes kept that one peer for as long.
func (o *Overlay) discover(d *discovery, interval time.Duration) {
	before := len(o.host.Network().Peers())
	if before == 0 {
		d.next, d.wait = time.Time{}, interval
		return
	}
	if o.dht == nil || before >= DiscoveryPeers || time.Now().Before(d.next) {
		return
	}
	o.stats.discoveryLookups.Add(1)
	ctx, cancel := context.WithTimeout(o.ctx, DiscoveryTimeout)
	_, _ = o.dht.GetClosestPeers(ctx, string(o.host.ID())) // what counts is whom it connected to
	cancel()
	if o.ctx.Err() != nil {
		return
	}
	if len(o.host.Network().Peers()) > before {
		d.wait = interval
	} else {
		d.wait = min(2*d.wait, MaxDiscoveryBackoff)
	}
	d.next = time.Now().Add(d.wait)
}

// refreshLoop refreshes the DHT's routing table every DHTRefreshInterval
// (the buckets no lookup visited in that time, and a ping to peers not
// heard from, evicting the dead), the first time at a random point in
// the second half of the interval: a zone that started together does not
// refresh together.
func (o *Overlay) refreshLoop() {
	defer o.wg.Done()
	wait := DHTRefreshInterval/2 + rand.N(DHTRefreshInterval/2)
	for {
		t := time.NewTimer(wait)
		select {
		case <-o.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		select {
		case <-o.dht.RefreshRoutingTable():
		case <-o.ctx.Done():
			return
		}
		wait = DHTRefreshInterval
	}
}

// RedialBootstrap dials, in the background, the bootstrap peers this node
// is not connected to, however many peers it has, ignoring the dial
// backoff earlier failures left. The node calls it while it hears fewer
// than k supernodes: a partition leaves each side well connected within
// itself, so the bootstrap loop (which redials below MinPeers) would never
// reach across once the link is back, and the backoff of the dials that
// failed during the cut would delay the first one that could succeed. At
// most one round is pending; the bootstrap loop runs it.
func (o *Overlay) RedialBootstrap() {
	select {
	case o.redial <- struct{}{}:
	default:
	}
}

// dialBootstrap dials the bootstrap peers this node is not connected to,
// under ctx, and reports the round.
func (o *Overlay) dialBootstrap(ctx context.Context) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		round BootstrapRound
		errs  []error
	)
	for _, s := range o.cfg.BootstrapPeers {
		ai, _ := peer.AddrInfoFromString(s) // checked by Validate
		if ai.ID == o.host.ID() {
			continue
		}
		if o.host.Network().Connectedness(ai.ID) == network.Connected {
			o.boot.found(s, ai.ID)
			continue
		}
		round.Dialled++
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, DialTimeout)
			defer cancel()
			err := o.host.Connect(ctx, *ai)
			o.boot.dialled(s, ai.ID, err)
			if err != nil {
				mu.Lock()
				round.Failed++
				errs = append(errs, fmt.Errorf("%s: %w", s, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if round.Dialled > 0 && o.deps.OnBootstrap != nil && o.ctx.Err() == nil {
		round.Err, round.Connected = errors.Join(errs...), len(o.host.Network().Peers())
		o.deps.OnBootstrap(round)
	}
}

// ID is this node's peer ID.
func (o *Overlay) ID() peer.ID { return o.host.ID() }

// Host is the libp2p host, for protocols built beside the overlay (content
// transfer).
func (o *Overlay) Host() host.Host { return o.host }

// DHT is the zone's DHT, or nil when Config.DHT.Mode is "off".
func (o *Overlay) DHT() *dht.IpfsDHT { return o.dht }

// Addrs are this node's dialable addresses, each ending in /p2p/<ID>.
func (o *Overlay) Addrs() []ma.Multiaddr {
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: o.host.ID(), Addrs: o.host.Addrs()})
	return addrs
}

// AddrInfo is this node's ID and addresses.
func (o *Overlay) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: o.host.ID(), Addrs: o.host.Addrs()}
}

// dropGraylisted disconnects p, whose gossip score s fell below the
// graylist threshold, and has the gater keep it out for BlockDuration.
// Gossipsub ignores a graylisted peer's messages but keeps its
// connection, over which the peer can go on sending what this node must
// still read off its link and decode, for as long as it likes. Only a
// peer whose messages this node rejected gets there (invalid messages
// are what weigh), and it may come back under another identity, to be
// scored down again from zero.
func (o *Overlay) dropGraylisted(p peer.ID, score float64) {
	if o.ctx.Err() != nil || o.gater.isBlocked(p) {
		return
	}
	o.gater.block(p)
	o.stats.graylisted.Add(1)
	o.log.Warn("dropping graylisted peer", "peer", p.String(), "score", score, "kept_out", BlockDuration.String())
	// pubsub calls the inspection in a goroutine of its own: closing here
	// holds up nothing of the router's.
	_ = o.host.Network().ClosePeer(p)
}

// Connect dials a peer.
func (o *Overlay) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if err := o.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("connecting to %s: %w", ai.ID, err)
	}
	return nil
}

// Publish signs (gossipsub StrictSign) and sends data on topic, after the
// node's own validator accepted it.
func (o *Overlay) Publish(ctx context.Context, topic string, data []byte) error {
	return o.gossip.publish(ctx, topic, data)
}

// Subscribe delivers topic's validated messages. The announce topic also
// gets catch-up items: catch-up starts once it has a subscriber.
func (o *Overlay) Subscribe(topic string) (*Subscription, error) {
	return o.gossip.subscribe(topic)
}

// AnnounceTopic is this zone's announce topic.
func (o *Overlay) AnnounceTopic() string { return AnnounceTopic(o.cfg.Zone) }

// CRLTopic is this zone's CRL topic.
func (o *Overlay) CRLTopic() string { return CRLTopic(o.cfg.Zone) }

// HeartbeatTopic is this zone's heartbeat topic.
func (o *Overlay) HeartbeatTopic() string { return HeartbeatTopic(o.cfg.Zone) }

// SupernodesTopic is this zone's supernode topic.
func (o *Overlay) SupernodesTopic() string { return SupernodesTopic(o.cfg.Zone) }

// CollectiveTopic is one of this zone's collective topics.
func (o *Overlay) CollectiveTopic(name string) string { return CollectiveTopic(o.cfg.Zone, name) }

// Keep stores a verified item for peers catching up from this node. Items
// in the store are also never delivered again by catch-up.
func (o *Overlay) Keep(kind Kind, verifiedData []byte) (uint64, error) {
	return o.deps.Store.Append(kind, verifiedData)
}

// SyncWith catches up from p now.
func (o *Overlay) SyncWith(ctx context.Context, p peer.ID) (SyncResult, error) {
	return o.sync.syncWith(ctx, p)
}

// CaughtUp is closed once this node's first catch-up from a peer ended
// without error (at start-up, periodic or through SyncWith): from then on it
// holds what that peer kept for the zone. It stays open while no peer
// answered, as on the first node of a zone.
func (o *Overlay) CaughtUp() <-chan struct{} { return o.sync.caughtUp }

// PeerInfo is the admission record of a connected peer.
func (o *Overlay) PeerInfo(p peer.ID) (PeerInfo, bool) { return o.auth.info(p) }

// WaitAdmitted reports whether p may be served this node's data. In a
// public zone every peer may. In a private zone only a peer the admission
// exchange verified may: WaitAdmitted waits for the exchange to settle (at
// most Config.AuthDeadline, or until ctx ends), so a peer holding the zone's
// key but no certificate gets nothing in the window before it is dropped.
// Protocols served beside the overlay (content transfer) call it per stream.
func (o *Overlay) WaitAdmitted(ctx context.Context, p peer.ID) bool {
	if !o.cfg.PrivateZone.Enabled() {
		return true
	}
	return o.auth.waitVerified(ctx, p)
}

// AdmissionFailure is why p last failed the admission exchange (nil if it
// has not failed recently), even after it was disconnected.
func (o *Overlay) AdmissionFailure(p peer.ID) error { return o.auth.failure(p) }

// Peers lists the admission records of connected peers.
func (o *Overlay) Peers() []PeerInfo { return o.auth.all() }

// Reauthenticate re-verifies connected peers' chains (after a new CRL); in a
// private zone peers that fail are dropped. It returns how many failed.
func (o *Overlay) Reauthenticate() int { return o.auth.reauthenticate() }

// PeerScores is the latest gossipsub score of each peer (refreshed every
// score.inspect_interval).
func (o *Overlay) PeerScores() map[peer.ID]float64 { return o.gossip.peerScores() }

// MeshPeers are the peers this node exchanges full messages with on topic
// (the rest of the topic's peers get only gossip about them).
func (o *Overlay) MeshPeers(topic string) []peer.ID { return o.gossip.mesh.list(topic) }

// TopicPeers are the connected peers subscribed to topic.
func (o *Overlay) TopicPeers(topic string) []peer.ID { return o.gossip.ps.ListPeers(topic) }

// Stats counts messages and admissions since start.
func (o *Overlay) Stats() Stats { return o.stats.snapshot() }

// Close stops everything the overlay started and closes the host.
func (o *Overlay) Close() error {
	o.closeOnce.Do(func() { o.closeErr = o.shutdown() })
	return o.closeErr
}

func (o *Overlay) shutdown() error {
	o.cancel()
	o.gossip.close()
	var errs []error
	if o.dht != nil {
		errs = append(errs, o.dht.Close())
	}
	errs = append(errs, o.host.Close())
	o.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing overlay: %w", err)
	}
	return nil
}

package overlay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/trust"
)

// Config is one node's overlay: which zone it joins, where it listens, whom it
// dials first, and the bounds of gossip, admission and catch-up.
//
// A private zone (PrivateZone set) runs over TCP only: libp2p's pre-shared key
// protection (pnet) wraps raw TCP connections and QUIC does not support it, so
// Validate rejects a PSK together with a QUIC listen address rather than
// silently dropping the address.
type Config struct {
	// Zone names the zone; it becomes part of every topic and the DHT prefix.
	// Required: no default.
	Zone string `toml:"zone"`
	// ListenAddrs are multiaddrs to listen on. Default: TCP and QUIC on every
	// interface, port 4001.
	ListenAddrs []string `toml:"listen_addrs"`
	// AnnounceAddrs, when set, replace the listen addresses this node tells
	// peers about (behind NAT or a load balancer). Default: none.
	AnnounceAddrs []string `toml:"announce_addrs"`
	// BootstrapPeers are full multiaddrs with /p2p/<peer ID> dialled at
	// start and whenever this node has fewer than MinPeers connections.
	// Default: none (the first node of a zone needs none).
	BootstrapPeers []string `toml:"bootstrap_peers"`
	// PrivateZone, when it has a key, closes the zone to nodes without it
	// and requires every peer to authenticate with a certificate of this
	// zone. Default: public zone.
	PrivateZone PrivateZone `toml:"private_zone"`
	// DHT configures the Kademlia DHT used for content providers.
	DHT DHTConfig `toml:"dht"`
	// Collectives are the collective topics this node joins. Default: none.
	Collectives []string `toml:"collectives"`
	// Supernode makes this node publish by flooding to every peer in a topic
	// rather than only its mesh, so co-signed announcements leave a
	// supernode on every link at once. Default: false (agents use the mesh).
	Supernode bool `toml:"supernode"`
	// Gossip bounds message size and the validation pipeline.
	Gossip GossipConfig `toml:"gossip"`
	// Score tunes peer scoring (see score.go for the full parameters).
	Score ScoreConfig `toml:"score"`
	// AuthDeadline is how long a new peer has to present its certificate
	// chain. Default: DefaultAuthDeadline (10s).
	AuthDeadline duration.Duration `toml:"auth_deadline"`
	// Sync bounds catch-up after start-up and isolation.
	Sync SyncConfig `toml:"sync"`
	// Resources sizes libp2p's resource and connection managers.
	Resources ResourceConfig `toml:"resources"`
	// BootstrapInterval is how often bootstrap peers are redialled while
	// this node has fewer than MinPeers connections. Default: 15s.
	BootstrapInterval duration.Duration `toml:"bootstrap_interval"`
}

// PrivateZone holds a zone's pre-shared key. Either field sets the key; PSK
// wins when both are set.
type PrivateZone struct {
	// PSKFile is a libp2p pnet key file ("/key/swarm/psk/1.0.0/",
	// "/base16/", 64 hex digits), as go-ipfs' swarm.key. Default: none.
	PSKFile string `toml:"psk_file"`
	// PSK is the raw 32-byte key (tests and programs; not read from TOML).
	PSK []byte `toml:"-"`
}

// DHTConfig configures the Kademlia DHT.
type DHTConfig struct {
	// Mode is "server" (answer queries; required in a closed network where
	// auto mode leaves routing tables empty), "client", or "off".
	// Default: "server".
	Mode string `toml:"mode"`
	// ProtocolPrefix keeps the zone's DHT apart from every other DHT.
	// Default: "/patchnet/<zone>".
	ProtocolPrefix string `toml:"protocol_prefix"`
}

// GossipConfig bounds gossip messages and the validation pipeline.
type GossipConfig struct {
	// MaxMessageBytes caps one message. Default: 1 MiB (one envelope).
	MaxMessageBytes int `toml:"max_message_bytes"`
	// ValidateQueueSize is the validation queue; a full queue drops
	// messages. Default: 4096 (pubsub's 32 drops under bursts).
	ValidateQueueSize int `toml:"validate_queue_size"`
	// ValidateWorkers run signature checks; 0 means one per CPU. Default: 0.
	ValidateWorkers int `toml:"validate_workers"`
	// ValidateConcurrency caps node validator calls in flight. Default: 1024.
	ValidateConcurrency int `toml:"validate_concurrency"`
	// PeerOutboundQueueSize is the queue of messages to one peer.
	// Default: 1024.
	PeerOutboundQueueSize int `toml:"peer_outbound_queue_size"`
	// SubscriptionBuffer holds delivered messages the node has not read yet.
	// Default: 1024.
	SubscriptionBuffer int `toml:"subscription_buffer"`
	// SeenMessagesTTL is how long message IDs are remembered. Default: 10m.
	SeenMessagesTTL duration.Duration `toml:"seen_messages_ttl"`
}

// ScoreConfig tunes peer scoring: how fast a peer that delivers messages the
// validator rejects is cut off.
type ScoreConfig struct {
	// InvalidMessageWeight multiplies the square of a peer's rejected
	// messages per topic. Default: -10 (one → -10, three → -90: graylisted).
	InvalidMessageWeight float64 `toml:"invalid_message_weight"`
	// GossipThreshold: below it a peer gets and gives no gossip. Default: -10.
	GossipThreshold float64 `toml:"gossip_threshold"`
	// PublishThreshold: below it we do not publish to a peer. Default: -40.
	PublishThreshold float64 `toml:"publish_threshold"`
	// GraylistThreshold: below it a peer's RPCs are ignored, and at the
	// next score snapshot the peer is disconnected and kept out for
	// BlockDuration. Default: -80.
	GraylistThreshold float64 `toml:"graylist_threshold"`
	// InspectInterval is how often scores are snapshotted: how long a
	// graylisted peer stays connected at most. Default: 1s.
	InspectInterval duration.Duration `toml:"inspect_interval"`
}

// SyncConfig bounds catch-up.
type SyncConfig struct {
	// Peers is how many distinct peers to catch up from after start-up or
	// isolation. Default: 2.
	Peers int `toml:"peers"`
	// MaxItems per request. Default: 256.
	MaxItems int `toml:"max_items"`
	// MaxBytes per request. Default: 8 MiB. Peers answer at most
	// MaxSyncServeBytes (8 MiB) whatever is asked; more takes more rounds.
	MaxBytes int `toml:"max_bytes"`
	// Interval is how often a node also catches up from one connected peer
	// (the one it caught up from longest ago) while all seems well: gossip
	// loses what was published before a node's mesh formed, and a partition
	// a node stayed connected through starts no catch-up of its own. When
	// nothing was missed this costs one small round trip. Jittered by ±25%
	// so a zone's nodes do not ask in step. 0 turns it off. Default: 2m.
	Interval duration.Duration `toml:"interval"`
}

// ResourceConfig sizes libp2p's resource manager (memory, file descriptors,
// scaled from go-libp2p's defaults) and connection manager.
type ResourceConfig struct {
	// MaxMemory libp2p may reserve. Default: 512 MiB.
	MaxMemory int64 `toml:"max_memory"`
	// MaxFileDescriptors libp2p may use: at least MaxConns (each TCP
	// connection takes one). Default: 1024.
	MaxFileDescriptors int `toml:"max_file_descriptors"`
	// ConnLow and ConnHigh are the connection manager's water marks.
	// Defaults: 64 and 128.
	ConnLow  int `toml:"conn_low"`
	ConnHigh int `toml:"conn_high"`
}

// DefaultConfig is a public zone node listening on TCP and QUIC port 4001,
// with the bounds in limits.go. Zone is left empty: the caller names it.
func DefaultConfig() Config {
	return Config{
		ListenAddrs: []string{
			"/ip4/0.0.0.0/tcp/4001",
			"/ip4/0.0.0.0/udp/4001/quic-v1",
		},
		DHT: DHTConfig{Mode: DHTModeServer},
		Gossip: GossipConfig{
			MaxMessageBytes:       DefaultMaxMessageBytes,
			ValidateQueueSize:     DefaultValidateQueueSize,
			ValidateWorkers:       DefaultValidateWorkers,
			ValidateConcurrency:   DefaultValidateConcurrency,
			PeerOutboundQueueSize: DefaultPeerOutboundQueueSize,
			SubscriptionBuffer:    DefaultSubscriptionBuffer,
			SeenMessagesTTL:       duration.Duration(DefaultSeenMessagesTTL),
		},
		Score:        DefaultScoreConfig(),
		AuthDeadline: duration.Duration(DefaultAuthDeadline),
		Sync: SyncConfig{
			Peers:    DefaultSyncPeers,
			MaxItems: DefaultSyncMaxItems,
			MaxBytes: DefaultSyncMaxBytes,
			Interval: duration.Duration(DefaultSyncInterval),
		},
		Resources: ResourceConfig{
			MaxMemory:          DefaultResourceMemory,
			MaxFileDescriptors: DefaultResourceFDs,
			ConnLow:            DefaultConnLow,
			ConnHigh:           DefaultConnHigh,
		},
		BootstrapInterval: duration.Duration(DefaultBootstrapInterval),
	}
}

// DefaultScoreConfig graylists a peer after three rejected messages in one
// topic and stops gossiping with it after the first.
func DefaultScoreConfig() ScoreConfig {
	return ScoreConfig{
		InvalidMessageWeight: -10,
		GossipThreshold:      -10,
		PublishThreshold:     -40,
		GraylistThreshold:    -80,
		InspectInterval:      duration.Duration(DefaultScoreInspectInterval), // a flooder's bytes for a second at most
	}
}

// DHT modes.
const (
	DHTModeServer = "server"
	DHTModeClient = "client"
	DHTModeOff    = "off"
)

var collectiveNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Validate checks every field; errors name the field and the bad value.
func (c Config) Validate() error {
	checks := []func() error{
		c.validateZone, c.validateAddrs, c.validatePrivateZone, c.validateDHT,
		c.validateCollectives, c.Gossip.validate, c.Score.validate,
		c.validateTimes, c.Sync.validate, c.Resources.validate,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return fmt.Errorf("overlay config: %w", err)
		}
	}
	return nil
}

func (c Config) validateZone() error {
	if err := trust.ValidateZoneName(c.Zone); err != nil {
		return fmt.Errorf("zone: %w", err)
	}
	return nil
}

func (c Config) validateAddrs() error {
	if len(c.ListenAddrs) == 0 {
		return errors.New("listen_addrs: empty: a node must listen somewhere")
	}
	for _, s := range append(append([]string(nil), c.ListenAddrs...), c.AnnounceAddrs...) {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("address %q: %w", s, err)
		}
	}
	for _, s := range c.BootstrapPeers {
		if _, err := peer.AddrInfoFromString(s); err != nil {
			return fmt.Errorf("bootstrap_peers: %q: want a multiaddr ending in /p2p/<peer ID>: %w", s, err)
		}
	}
	return nil
}

// bootstrapInfos are BootstrapPeers parsed, in order; Validate refused
// any that does not parse.
func (c Config) bootstrapInfos() []peer.AddrInfo {
	out := make([]peer.AddrInfo, 0, len(c.BootstrapPeers))
	for _, s := range c.BootstrapPeers {
		if ai, err := peer.AddrInfoFromString(s); err == nil {
			out = append(out, *ai)
		}
	}
	return out
}

func (c Config) validatePrivateZone() error {
	if !c.PrivateZone.Enabled() {
		return nil
	}
	if _, err := c.PrivateZone.Key(); err != nil {
		return err
	}
	for _, s := range c.ListenAddrs {
		if isQUIC(s) {
			return fmt.Errorf("listen_addrs: %q: a private zone (pre-shared key) runs over TCP only: QUIC does not support libp2p private networks", s)
		}
	}
	return nil
}

func (c Config) validateDHT() error {
	switch c.DHT.Mode {
	case DHTModeServer, DHTModeClient, DHTModeOff:
	default:
		return fmt.Errorf("dht.mode: %q: want %q, %q or %q", c.DHT.Mode, DHTModeServer, DHTModeClient, DHTModeOff)
	}
	if p := c.DHT.ProtocolPrefix; p != "" && (p[0] != '/' || len(p) > 128) {
		return fmt.Errorf("dht.protocol_prefix: %q: want a path starting with '/', at most 128 bytes", p)
	}
	return nil
}

func (c Config) validateCollectives() error {
	if len(c.Collectives) > MaxCollectives {
		return fmt.Errorf("collectives: %d names, at most %d", len(c.Collectives), MaxCollectives)
	}
	seen := map[string]bool{}
	for _, name := range c.Collectives {
		if err := ValidateCollectiveName(name); err != nil {
			return fmt.Errorf("collectives: %w", err)
		}
		if seen[name] {
			return fmt.Errorf("collectives: %q listed twice", name)
		}
		seen[name] = true
	}
	return nil
}

func (c Config) validateTimes() error {
	if d := time.Duration(c.AuthDeadline); d <= 0 || d > MaxAuthDeadline {
		return fmt.Errorf("auth_deadline: %v: want more than 0 and at most %v", c.AuthDeadline, MaxAuthDeadline)
	}
	if d := time.Duration(c.BootstrapInterval); d < time.Second || d > time.Hour {
		return fmt.Errorf("bootstrap_interval: %v: want 1s to 1h", c.BootstrapInterval)
	}
	return nil
}

// ValidateCollectiveName checks a collective name: 1–63 lowercase letters,
// digits, '.', '_' or '-', starting with a letter or digit.
func ValidateCollectiveName(name string) error {
	if !collectiveNameRE.MatchString(name) {
		return fmt.Errorf("collective name %q: want 1 to %d of a-z 0-9 . _ -, first a letter or digit", name, MaxCollectiveNameLength)
	}
	return nil
}

func (g GossipConfig) validate() error {
	switch {
	case g.MaxMessageBytes < 1024 || g.MaxMessageBytes > MaxMessageBytesLimit:
		return fmt.Errorf("gossip.max_message_bytes: %d: want 1024 to %d", g.MaxMessageBytes, MaxMessageBytesLimit)
	case g.ValidateQueueSize < 1 || g.ValidateQueueSize > MaxValidateQueueSize:
		return fmt.Errorf("gossip.validate_queue_size: %d: want 1 to %d", g.ValidateQueueSize, MaxValidateQueueSize)
	case g.ValidateWorkers < 0 || g.ValidateWorkers > 1024:
		return fmt.Errorf("gossip.validate_workers: %d: want 0 (one per CPU) to 1024", g.ValidateWorkers)
	case g.ValidateConcurrency < 1 || g.ValidateConcurrency > 1<<16:
		return fmt.Errorf("gossip.validate_concurrency: %d: want 1 to %d", g.ValidateConcurrency, 1<<16)
	case g.PeerOutboundQueueSize < 1 || g.PeerOutboundQueueSize > MaxQueueSize:
		return fmt.Errorf("gossip.peer_outbound_queue_size: %d: want 1 to %d", g.PeerOutboundQueueSize, MaxQueueSize)
	case g.SubscriptionBuffer < 1 || g.SubscriptionBuffer > MaxQueueSize:
		return fmt.Errorf("gossip.subscription_buffer: %d: want 1 to %d", g.SubscriptionBuffer, MaxQueueSize)
	case time.Duration(g.SeenMessagesTTL) < time.Second || time.Duration(g.SeenMessagesTTL) > 24*time.Hour:
		return fmt.Errorf("gossip.seen_messages_ttl: %v: want 1s to 24h", g.SeenMessagesTTL)
	}
	return nil
}

func (s ScoreConfig) validate() error {
	switch {
	case s.InvalidMessageWeight >= 0:
		return fmt.Errorf("score.invalid_message_weight: %v: want a negative weight", s.InvalidMessageWeight)
	case s.GossipThreshold >= 0:
		return fmt.Errorf("score.gossip_threshold: %v: want negative", s.GossipThreshold)
	case s.PublishThreshold > s.GossipThreshold:
		return fmt.Errorf("score.publish_threshold: %v: want at most gossip_threshold (%v)", s.PublishThreshold, s.GossipThreshold)
	case s.GraylistThreshold > s.PublishThreshold:
		return fmt.Errorf("score.graylist_threshold: %v: want at most publish_threshold (%v)", s.GraylistThreshold, s.PublishThreshold)
	case time.Duration(s.InspectInterval) < MinScoreInspectInterval || time.Duration(s.InspectInterval) > MaxScoreInspectInterval:
		return fmt.Errorf("score.inspect_interval: %v: want %v to %v", s.InspectInterval, MinScoreInspectInterval, MaxScoreInspectInterval)
	}
	return nil
}

func (s SyncConfig) validate() error {
	switch {
	case s.Peers < 1 || s.Peers > 16:
		return fmt.Errorf("sync.peers: %d: want 1 to 16", s.Peers)
	case s.MaxItems < 1 || s.MaxItems > MaxSyncItems:
		return fmt.Errorf("sync.max_items: %d: want 1 to %d", s.MaxItems, MaxSyncItems)
	case s.MaxBytes < MaxItemBytes || s.MaxBytes > MaxSyncBytes:
		return fmt.Errorf("sync.max_bytes: %d: want %d (one item) to %d", s.MaxBytes, MaxItemBytes, MaxSyncBytes)
	case s.Interval != 0 && (time.Duration(s.Interval) < MinSyncInterval || time.Duration(s.Interval) > MaxSyncInterval):
		return fmt.Errorf("sync.interval: %v: want 0 (off) or %v to %v", s.Interval, MinSyncInterval, MaxSyncInterval)
	}
	return nil
}

func (r ResourceConfig) validate() error {
	switch {
	case r.MaxMemory < MinResourceMemory:
		return fmt.Errorf("resources.max_memory: %d: want at least %d", r.MaxMemory, MinResourceMemory)
	case r.MaxFileDescriptors < MinResourceFDs:
		return fmt.Errorf("resources.max_file_descriptors: %d: want at least %d", r.MaxFileDescriptors, MinResourceFDs)
	case r.ConnLow < 1 || r.ConnHigh < r.ConnLow:
		return fmt.Errorf("resources.conn_low/conn_high: %d/%d: want 1 <= low <= high", r.ConnLow, r.ConnHigh)
	case r.MaxFileDescriptors < r.MaxConns():
		return fmt.Errorf("resources.max_file_descriptors: %d: below the %d connections resources.conn_high %d lets the node hold (%d each way, %d more to dial out); each TCP connection takes a descriptor: want at least %d",
			r.MaxFileDescriptors, r.MaxConns(), r.ConnHigh, connLimit(r), outboundReserve(r), r.MaxConns())
	}
	return nil
}

// Enabled reports whether a pre-shared key is configured.
func (p PrivateZone) Enabled() bool { return len(p.PSK) > 0 || p.PSKFile != "" }

// Key returns the 32-byte pre-shared key from PSK or PSKFile.
func (p PrivateZone) Key() (pnet.PSK, error) {
	if len(p.PSK) > 0 {
		if len(p.PSK) != 32 {
			return nil, fmt.Errorf("private_zone.psk: %d bytes: want 32", len(p.PSK))
		}
		return pnet.PSK(p.PSK), nil
	}
	data, err := fsutil.ReadFile(p.PSKFile, MaxPSKFileBytes)
	if err != nil {
		return nil, fmt.Errorf("private_zone.psk_file: %w", err)
	}
	key, err := pnet.DecodeV1PSK(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("private_zone.psk_file: %q: decoding pnet key: %w", p.PSKFile, err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("private_zone.psk_file: %q: %d-byte key: want 32", p.PSKFile, len(key))
	}
	return key, nil
}

// EncodePSK renders a key in the pnet file format PSKFile reads.
func EncodePSK(key []byte) []byte {
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(key) + "\n")
}

// isQUIC reports whether a multiaddr string uses QUIC.
func isQUIC(s string) bool {
	addr, err := ma.NewMultiaddr(s)
	if err != nil {
		return false
	}
	for _, c := range addr {
		switch c.Protocol().Code {
		case ma.P_QUIC, ma.P_QUIC_V1, ma.P_WEBTRANSPORT:
			return true
		}
	}
	return false
}

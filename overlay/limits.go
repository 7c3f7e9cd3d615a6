package overlay

import (
	"time"

	"github.com/patchnet/patchnet/trust"
)

// Bounds on everything the overlay reads from peers, keeps in memory, or waits
// for. Each caps what a remote peer can make this process allocate or wait on
// before a signature has been checked.
const (
	// DefaultMaxMessageBytes caps one gossip message: a signed envelope
	// (trust.MaxEnvelopeBytes). Artifacts never travel by gossip.
	DefaultMaxMessageBytes = trust.MaxEnvelopeBytes
	// MaxMessageBytesLimit bounds Config.Gossip.MaxMessageBytes.
	MaxMessageBytesLimit = 16 << 20
	// RPCOverheadBytes is added to the message limit to size a whole
	// gossipsub RPC frame: protobuf framing, signature, key, control data.
	RPCOverheadBytes = 64 << 10

	// DefaultValidateQueueSize replaces pubsub's default of 32, which drops
	// messages during a burst: BenchmarkValidateQueueBurst (4 publishers ×
	// 500 signed announcements at once into one verifying node) lost 81–100
	// of 2000 with 32 and none with 4096 (2 cores, loaded machine).
	DefaultValidateQueueSize = 4096
	// MaxValidateQueueSize bounds Config.Gossip.ValidateQueueSize.
	MaxValidateQueueSize = 1 << 20
	// DefaultValidateWorkers is 0: pubsub's default, one worker per CPU.
	DefaultValidateWorkers = 0
	// DefaultValidateConcurrency caps validations in flight at once; each
	// costs one signature check when the chain is cached.
	DefaultValidateConcurrency = 1024
	// DefaultPeerOutboundQueueSize replaces pubsub's 32 messages per peer, so
	// a burst of announcements is not dropped on its way to a slow peer.
	DefaultPeerOutboundQueueSize = 1024
	// DefaultSubscriptionBuffer replaces pubsub's 32 delivered messages per
	// subscription waiting for the node to read them.
	DefaultSubscriptionBuffer = 1024
	// MaxQueueSize bounds the outbound queue and subscription buffer.
	MaxQueueSize = 1 << 20
	// ValidateTimeout bounds one call to the node's MessageValidator.
	ValidateTimeout = 10 * time.Second
	// DefaultSeenMessagesTTL is how long gossip remembers a message ID, so a
	// message relayed late is not delivered twice.
	DefaultSeenMessagesTTL = 10 * time.Minute
	// MaxTopicsPerRPC caps subscriptions a peer may announce in one RPC.
	MaxTopicsPerRPC = 64
	// MaxCollectives caps the collectives one node joins.
	MaxCollectives = 32
	// MaxCollectiveNameLength caps a collective name (part of a topic).
	MaxCollectiveNameLength = 63
	// DeliveredCacheSize is how many content hashes the overlay remembers as
	// delivered to subscribers, so gossip and catch-up dedupe each other.
	DeliveredCacheSize = 1 << 16
	// ReceivedCacheSize bounds the arrival times kept for messages not yet
	// delivered (Message.Received): each is forgotten at its delivery or
	// refusal, and a copy arriving after its delivery leaves none, so
	// this is room for messages in validation at once. Only RPCs the
	// router drops untraced (a graylisted peer's) leave notes behind;
	// beyond the bound the oldest arrivals are forgotten, and a message
	// whose note went is read as received when delivered.
	ReceivedCacheSize = 256
	// DefaultScoreInspectInterval is how often peer scores are
	// snapshotted (ScoreConfig.InspectInterval): for PeerScores, and to
	// drop the peers found graylisted, whose bytes still arrive until
	// then. Each snapshot scores every peer on every topic, nothing for
	// one host; in one process of 300 sim nodes, at 1 s, 4.5 % of the
	// idle zone's CPU (the sim takes 5 s).
	DefaultScoreInspectInterval = time.Second
	// MinScoreInspectInterval and MaxScoreInspectInterval bound
	// ScoreConfig.InspectInterval.
	MinScoreInspectInterval, MaxScoreInspectInterval = 100 * time.Millisecond, time.Minute

	// DefaultAuthDeadline is how long a new peer has to complete the
	// /patchnet/auth/1.0.0 exchange before a private zone drops it.
	DefaultAuthDeadline = 10 * time.Second
	// MaxAuthDeadline bounds Config.AuthDeadline.
	MaxAuthDeadline = 5 * time.Minute
	// MaxAuthChainCerts caps certificates in one presented chain: leaf, zone
	// CA, and the root if a peer sends it.
	MaxAuthChainCerts = trust.MaxChainLength
	// maxCertBytes caps one presented DER certificate.
	maxCertBytes = trust.MaxCertificateBytes
	// MaxAuthFrameBytes caps one auth message.
	MaxAuthFrameBytes = MaxAuthChainCerts*(trust.MaxCertificateBytes+8) + 16
	// BlockDuration is how long the gater keeps out a peer that failed
	// admission to a private zone, or whose gossip score fell below the
	// graylist threshold; after it, the peer may try again (its
	// certificate may have been renewed; its score has decayed).
	BlockDuration = 10 * time.Minute
	// MaxBlockedPeers caps the gater's memory; the oldest block is forgotten
	// first.
	MaxBlockedPeers = 16384
	// RecentFailures is how many peers' admission failures are remembered
	// for AdmissionFailure.
	RecentFailures = 1024
	// MaxConcurrentAuth caps auth exchanges served at once, across all
	// peers; each peer may hold only one of them at a time.
	MaxConcurrentAuth = 64
	// AuthFirstFrameTimeout bounds the wait for the dialling peer's chain on
	// an auth stream this node answers (or AuthDeadline if shorter): an
	// honest peer sends it at once, and a silent stream would otherwise hold
	// a slot for the whole deadline. The stream is then refused as busy (the
	// peer may ask again); only AuthDeadline rejects the peer.
	AuthFirstFrameTimeout = 2 * time.Second
	// BusyRetry is the first pause before reopening an auth or catch-up
	// stream the remote refused as busy (its slots full, or still serving
	// another stream of ours); it doubles up to BusyRetryMax, and the
	// retries end at AuthDeadline or SyncTimeout.
	BusyRetry    = 100 * time.Millisecond
	BusyRetryMax = time.Second

	// DefaultSyncMaxItems is how many items one catch-up request asks for.
	DefaultSyncMaxItems = 256
	// MaxSyncItems caps the items in one catch-up response.
	MaxSyncItems = 1024
	// DefaultSyncMaxBytes is how many bytes one catch-up request asks for.
	DefaultSyncMaxBytes = 8 << 20
	// MaxSyncBytes caps the bytes a catch-up request may ask for.
	MaxSyncBytes = 32 << 20
	// MaxSyncServeBytes caps the item bytes this node puts in one catch-up
	// response, whatever was asked: MaxConcurrentSyncServes responses then
	// hold at most 64 MiB. An asker wanting more takes more rounds.
	MaxSyncServeBytes = 8 << 20
	// MaxItemBytes caps one stored or synced item: one signed envelope or CRL.
	MaxItemBytes = max(trust.MaxEnvelopeBytes, trust.MaxCRLBytes)
	// MaxSyncRounds caps the request/response rounds of one catch-up with
	// one peer, so a peer that always claims "more" cannot hold us forever.
	MaxSyncRounds = 64
	// SyncTimeout bounds one catch-up round (request and whole response).
	SyncTimeout = 30 * time.Second
	// DefaultSyncPeers is how many distinct peers a node catches up from
	// after start-up or isolation: one peer could omit items, it cannot forge.
	DefaultSyncPeers = 2
	// DefaultSyncInterval is how often a node catches up from one peer
	// while connected: a missed announcement is repaired within it.
	DefaultSyncInterval = 2 * time.Minute
	// MinSyncInterval and MaxSyncInterval bound Sync.Interval when on.
	MinSyncInterval = time.Second
	MaxSyncInterval = 24 * time.Hour
	// MaxConcurrentSyncServes caps catch-up requests served at once, across
	// all peers; each peer may have only one served at a time.
	MaxConcurrentSyncServes = 8
	// SyncRequestTimeout bounds the wait for a catch-up request (under 64
	// bytes, sent at once by an honest asker), so a silent stream cannot
	// hold a serve slot for SyncTimeout.
	SyncRequestTimeout = 2 * time.Second
	// MaxSyncCursors caps the per-peer cursors kept in memory.
	MaxSyncCursors = 4096
	// MaxPSKFileBytes bounds a private zone's swarm.key file (the key is
	// 32 bytes; the file is its hex form with two header lines).
	MaxPSKFileBytes = 4096

	// DefaultKeepPerKind caps stored items of one kind in an ItemStore; the
	// oldest are dropped first. Announcements need more history than the
	// newest CRL or heartbeat.
	DefaultKeepAnnouncements = 4096
	// DefaultKeepCRLs keeps enough CRLs for every zone CA a node follows.
	DefaultKeepCRLs = 256
	// DefaultKeepHeartbeats keeps the newest heartbeats of a zone's supernodes.
	DefaultKeepHeartbeats = 64
	// DefaultKeepPolicies keeps the newest zone policies.
	DefaultKeepPolicies = 16

	// DefaultConnLow and DefaultConnHigh are the connection manager's water
	// marks: an agent keeps a few dozen peers, enough for gossip meshes (D=6
	// per topic) and the DHT, trimming past the high mark.
	DefaultConnLow  = 64
	DefaultConnHigh = 128
	// ConnLimitFactor sizes the resource manager's connection limits from
	// the connection manager's high water mark (ConnLimitFactor × ConnHigh,
	// inbound and outbound alike), so the connection manager, which trims
	// back to ConnLow and keeps the peers gossip values, is what bounds a
	// node's connections, and a node past its high mark still admits
	// newcomers while its excess waits out ConnGracePeriod. With go-libp2p's
	// defaults scaled to 128 MiB (the lab's budget) the system allowed 64
	// inbound connections and the connection manager never trimmed (it
	// starts past 128): a zone's 64th agent bootstrapping off the same node
	// was refused for good, the ~64-agent cliff of issue 10.
	ConnLimitFactor = 2
	// OutboundReserveDivisor sizes the connections a node keeps for its
	// own dials (ConnHigh / OutboundReserveDivisor) on top of the
	// connection limit inbound connections may fill: in a 1,000-agent sim
	// zone, agents whose inbound DHT connections (in their grace period)
	// filled the whole shared limit could not dial the supernodes they
	// fetch from ("system: cannot reserve connection"). Half the high mark
	// covers a fetch's seeds, a DHT walk's dials and bootstrap redials.
	OutboundReserveDivisor = 2
	// StreamsPerConn sizes the stream limits every connection's streams
	// share (the system's, each way) from the connection limit: a peer
	// keeps gossip's stream and the DHT's open each way, and a fetch or
	// catch-up request now and then. The memory-scaled defaults (1,536
	// inbound streams in all, 640 a protocol, 192 in negotiation) sat far
	// below what a supernode holding a 1,000-agent zone's connections
	// needs: it reset agents' gossip, DHT and fetch streams ("stream
	// reset: code 0x1002", resource limit exceeded), and those agents'
	// fetches went to the vendor URL. One protocol (gossip's, the DHT's,
	// content) and streams in negotiation get one per connection.
	StreamsPerConn = 4
	// MaxLocateAsked bounds the connected signers LocatePeer asks, one
	// request each.
	MaxLocateAsked = 3
	// LocateTimeout bounds one LocatePeer: requests over open connections
	// to nodes that answer from memory.
	LocateTimeout = 5 * time.Second
	// DHTPeerTagValue is the connection manager's value of a peer in the
	// DHT's routing table, whichever bucket: kad-dht's own value for the
	// buckets it does not protect (see dhtHost).
	DHTPeerTagValue = 5
	// ConnGracePeriod keeps a new connection safe from trimming this long
	// (go-libp2p's default is a minute): enough for identify, admission and
	// the DHT lookups that find the newcomer other peers, short enough that
	// a bootstrap node flooded by a zone starting at once makes room again
	// within seconds.
	ConnGracePeriod = 20 * time.Second
	// DefaultBootstrapInterval is how often a node with fewer than
	// MinPeers connections redials its bootstrap peers.
	DefaultBootstrapInterval = 15 * time.Second
	// MinPeers is the connection count below which bootstrap peers are
	// redialled.
	MinPeers = 3
	// DiscoveryPeers is the connection count below which a node looks for
	// more peers through the DHT (a lookup of its own key, which connects
	// it to the peers it asks), a few more than gossip's mesh degree
	// (D=6). An agent that joined while the DHT was sparse, or whose
	// bootstrap peers trimmed it, otherwise stays with its bootstrap peers
	// alone, and a full bootstrap mesh prunes it: no mesh at all.
	DiscoveryPeers = 8
	// DiscoveryTimeout bounds that lookup.
	DiscoveryTimeout = time.Minute
	// DHTRefreshInterval is how often the DHT's routing table is refreshed
	// (kad-dht's own default period), the first time at a random point in
	// the second half of it.
	DHTRefreshInterval = 10 * time.Minute
	// MaxDiscoveryBackoff caps the wait between DHT refreshes that found no
	// new peer (it doubles from BootstrapInterval), so a zone smaller than
	// DiscoveryPeers is not searched without end.
	MaxDiscoveryBackoff = 10 * time.Minute
	// DialTimeout bounds one dial to a bootstrap peer.
	DialTimeout = 10 * time.Second
	// RelinkGrace is how long a connection to a supernode must have been
	// up before its absence from the supernodes' topic counts as a lost
	// gossip stream (relink.go): far beyond a router's hello, so a slow
	// start is never mistaken for one, and at most one reconnect a
	// minute for a supernode that stays silent.
	RelinkGrace = time.Minute
	// BootstrapWarnInterval is how often a bootstrap peer that keeps
	// failing is logged at warn again (each failure in between at debug).
	BootstrapWarnInterval = 10 * time.Minute

	// DefaultResourceMemory is the memory the resource manager lets libp2p
	// use on an agent: enough for gossip, DHT and one content transfer.
	DefaultResourceMemory = 512 << 20
	// DefaultResourceFDs is the file descriptors libp2p may use.
	DefaultResourceFDs = 1024
	// MinResourceMemory and MinResourceFDs bound the resource config below.
	MinResourceMemory = 64 << 20
	MinResourceFDs    = 64
)

package content

import "time"

// Bounds on what this package builds, stores, accepts off the wire and keeps
// in memory. Each one names the attack or cost it limits.
const (
	// ChunkSize is the leaf size Import cuts artifacts into. 1 MiB measured
	// best on loopback: fewer blocks mean fewer hashes to look up, fewer
	// frames and a shorter DAG, while staying under MaxBlockSize.
	ChunkSize = 1 << 20

	// LinksPerNode is the fan-out of the balanced layout (boxo's default,
	// which keeps an internal node of CIDv1 links well under 8 KiB).
	LinksPerNode = 174

	// MaxBlockSize is the largest block stored or accepted from a peer: the
	// bitswap limit of 2 MiB, so DAGs other IPFS tools build stay usable.
	MaxBlockSize = 2 << 20

	// MaxArtifactSize bounds an artifact's announced size (16 GiB).
	MaxArtifactSize = 16 << 30

	// MaxDAGNodes bounds the blocks one artifact's DAG may have, so a
	// hostile DAG cannot make the fetcher track millions of CIDs.
	MaxDAGNodes = 1 << 18

	// MaxDAGDepth bounds the internal levels walked before the leaves.
	MaxDAGDepth = 8

	// MaxPruneReach bounds the blocks Prune marks as reached from the kept
	// roots (a few hundred artifacts of the largest DAG): a prune that
	// would need more fails rather than growing without bound.
	MaxPruneReach = 64 * MaxDAGNodes

	// MaxCIDLen bounds one CID's encoding on the wire (a CIDv1 sha2-256 is
	// 36 bytes).
	MaxCIDLen = 128

	// MaxBlocksPerRequest bounds the CIDs in one transfer request.
	MaxBlocksPerRequest = 64

	// MaxRequestSize bounds one request's encoding.
	MaxRequestSize = 10 + MaxBlocksPerRequest*(10+MaxCIDLen)

	// MaxErrorMessage bounds the text of an error frame.
	MaxErrorMessage = 256

	// ServeStreamsPerPeer is the default bound on concurrent requests one
	// peer may have open against this node's server.
	ServeStreamsPerPeer = 4

	// StreamsPerProvider is the default number of requests the client keeps
	// in flight to one provider: two overlap one request's tail with the
	// next one's head.
	StreamsPerProvider = 2

	// SpanBlocks is the most leaves one request asks for.
	SpanBlocks = 8

	// ReorderWindow bounds how many leaves past the write cursor may be
	// requested or buffered, so memory stays at about ReorderWindow ×
	// ChunkSize whatever the providers do.
	ReorderWindow = 64
	// StealAfter is how long a provider's run must have been in flight
	// before an idle provider requests it too (work stealing, transfer.go):
	// on a fast link the first provider is done sooner, and an at-once
	// duplicate of a one-block artifact (1 MiB, ChunkSize) doubled what
	// the seeds served: 1.8 copies an agent in a 1,000-agent sim. A
	// provider slower than a block a second is still overtaken, unless
	// at its pace so far it will be done within StealAfter more.
	StealAfter = time.Second
	// StealRechecks: a run left to a provider about to finish it is looked
	// at again after StealAfter/StealRechecks at least.
	StealRechecks = 4

	// MaxProviders bounds the providers one fetch uses at once.
	MaxProviders = 8

	// ProviderSearchTimeout bounds the DHT provider search before falling
	// back to the vendor URL.
	ProviderSearchTimeout = 10 * time.Second

	// SearchRetryInterval is the pause before asking the DHT again when a
	// provider query finished without one usable provider: in a zone that
	// just accepted an update, the supernodes' and first agents' records
	// are still being stored while everyone searches, and giving up on the
	// first empty answer sent most agents to the vendor's origin. It
	// doubles each round, up to MaxSearchRetryInterval, within
	// ProviderSearchTimeout.
	SearchRetryInterval = 200 * time.Millisecond
	// BusySearchRounds is how many more ProviderSearchTimeouts a fetch
	// searches when every provider it found answered busy: seeders past
	// their budget have handed copies to fetchers that will provide them
	// within seconds, and waiting for those beats the vendor's origin. A
	// peer answering busy falsely delays the fallback by this much, once.
	BusySearchRounds = 1
	// MaxSearchRetryInterval caps the pause between provider queries.
	MaxSearchRetryInterval = 2 * time.Second

	// StallTimeout is how long a provider may send nothing on a request
	// before its blocks go to others (and a server may see a fetcher read
	// nothing before it resets the stream). It is a silence, not a
	// deadline per block: the deadline moves with every read and write.
	StallTimeout = 20 * time.Second
	// MinProviderRate is the slowest a provider may deliver one block
	// (and a fetcher read one from this node's server), in bytes per
	// second, on top of StallTimeout: 1 MiB in about two minutes. A seed
	// shared by a few hundred fetchers stays above it; a provider dripping
	// bytes just often enough to beat the stall timeout is dropped after
	// that long per block (other providers take over its runs meanwhile).
	MinProviderRate = 8 << 10
	// stallPiece is the most a server writes between moving its write
	// deadline: a few QUIC flow-control credits' worth, so a slow reader
	// is one whose reads stopped, not one whose block is large.
	stallPiece = 64 << 10

	// ReprovideInterval is how often held roots are provided again: the
	// kad-dht default (22 h), well inside the 48 h record validity.
	ReprovideInterval = 22 * time.Hour

	// ProvideTimeout bounds one Provide call to the DHT.
	ProvideTimeout = 2 * time.Minute
	// ProvideCheckTimeout bounds the DHT query a scheduled first provide
	// makes to learn whether enough holders are named already
	// (ProvideWithin); one that ends short of them provides.
	ProvideCheckTimeout = ProviderSearchTimeout

	// SeedOnlyWindow is how long a fetch with seeds pulls from them alone
	// before it asks the DHT for more providers (at once if every seed
	// fails or answers busy). A small artifact is done by then: at 1,000
	// agents a provider search and a provide walk for each fetch, though
	// its seeds sufficed, were most of the connections a rollout opened
	// and 15 % of its CPU, while gossip was still being validated. At
	// 1 s, 999 of those 1,000 fetches still searched: dialling and being
	// admitted by a supernode not yet connected takes seconds on a loaded
	// zone, though the supernodes then served every byte.
	SeedOnlyWindow = 5 * time.Second
	// ProvideRecordsEnough is how many provider records a fetch's DHT
	// search must have received for its own provide to wait, like a
	// seed-covered fetch's, for a random point within provide_spread: the
	// fetchers after it find enough holders without it (a provider query
	// returns about twenty records a responding peer, kad-dht's bucket
	// size). A search that found fewer provides at once. At 1,000 agents a
	// rollout in which most fetches searched opened thousands of
	// connections a second, each fetch's at-once provide a second walk.
	ProvideRecordsEnough = 20
	// SeedCoveredProvideSpread, the default Config.ProvideSpread, spreads
	// the first provide of an artifact
	// that the seeds covered alone (no DHT search was needed) over this
	// long, at a random point: the zone's fetchers finish together, and a
	// thousand walks to the same 20 closest peers at once is the churn
	// above. A fetch that needed the DHT provides at once — the zone is
	// short of sources — and every held root is provided again each
	// ReprovideInterval.
	SeedCoveredProvideSpread = 10 * time.Minute

	// MaxVerifiedStamps bounds the DiskStore's memory of blocks already
	// verified (about 100 bytes each; 1 Mi entries cover 1 TiB of 1 MiB
	// blocks).
	MaxVerifiedStamps = 1 << 20

	// AdmissionTimeout backstops the wait for Config.Admitted on one
	// request; the overlay's own auth deadline normally ends it sooner.
	AdmissionTimeout = 5 * time.Minute

	// MaxProviderCandidates bounds the provider records one fetch takes
	// from the DHT search, good or bad, so a flood of bogus records costs
	// a bounded number of failed requests.
	MaxProviderCandidates = 256

	// MaxSeeds bounds the seeds (Want.Seeds) one fetch uses: peers an
	// announcement names as holders, dialled before the DHT is asked. An
	// announcement may carry trust.MaxSignatures (32) co-signers, each
	// one more dial; no fetch uses more than MaxProviders providers at
	// once, and seeds past the bound are found through the DHT like any
	// holder that provides, so more would add dials, not sources.
	MaxSeeds = MaxProviders

	// SeedServeCopies is the default serve budget of an artifact this node
	// seeded (Add): how many whole copies it serves before answering busy.
	// One copy: the seeder is the zone's origin, whose egress must stay at
	// about one artifact while fetchers share the rest among themselves.
	SeedServeCopies = 1
	// MaxSeedServeCopies bounds Config.SeedServeCopies.
	MaxSeedServeCopies = 1 << 10
	// SeedSlotIdle is how long a peer being served a seeded copy may ask
	// for nothing before its slot goes to the next peer: one that took a
	// slot and left must not hold the budget.
	SeedSlotIdle = StallTimeout
	// MaxSeedPeers bounds the peers one seeded artifact remembers having
	// served, so lapsing slots cannot grow the map without end.
	MaxSeedPeers = 4096

	// MaxBusyHints bounds the peers a busy frame names. It is also the
	// bound on the providers one busy frame adds to a fetch, so a hostile
	// server pointing its hints at a victim makes each fetcher dial at
	// most MaxBusyHints × MaxBusyHintAddrs addresses per busy frame (and
	// each provider answers a fetch at most once before it is dropped).
	MaxBusyHints = 8
	// MaxPeerIDLen bounds one hinted peer ID's encoding (an ed25519 one
	// is 38 bytes).
	MaxPeerIDLen = 64
	// MaxBusyHintAddrs bounds the addresses a busy frame gives for one
	// hinted peer: enough for a TCP and a QUIC address on IPv4 and IPv6,
	// few enough that a hint pointing at a victim costs it a handful of
	// failed handshakes per fetcher.
	MaxBusyHintAddrs = 4
	// MaxBusyHintAddrLen bounds one hinted address's binary encoding
	// (/ip6/…/udp/…/quic-v1 is 22 bytes; a /dns name takes up to 255, so
	// hosts known only by a long name are hinted without addresses).
	MaxBusyHintAddrLen = 128
	// HintMissRetries bounds how often a fetch asks a hinted peer again
	// after it answered that it lacks a block (it was still receiving the
	// copy the seeder just sent it; transfer.retryHint).
	HintMissRetries = 4
	// HintRetryInterval is the pause before the first such retry; it
	// doubles, so the retries span about 4 s.
	HintRetryInterval = 250 * time.Millisecond
	// MaxBusyIDsFrame bounds the body of a busy frame of peer IDs only
	// (statusBusy, protocol 1.0.0): per hint a 1-byte length and the ID.
	MaxBusyIDsFrame = MaxBusyHints * (1 + MaxPeerIDLen)
	// MaxBusyFrame bounds the body of a busy frame with addresses
	// (statusBusyAddrs, protocol 1.1.0): per hint a 1-byte length, the
	// ID, a 1-byte address count, and per address a length (2 bytes of
	// uvarint for up to 128) and the address.
	MaxBusyFrame = MaxBusyHints * (1 + MaxPeerIDLen + 1 + MaxBusyHintAddrs*(2+MaxBusyHintAddrLen))

	// MirrorResumes bounds how often a transfer from one vendor mirror that
	// broke off after making progress is resumed from that same mirror
	// before the next one is tried: enough for a flaky link, and a mirror
	// that drips a byte and hangs up cannot hold the fetch for long. (The
	// response-header wait and stall bounds are the updates fetcher's.)
	MirrorResumes = 3
)

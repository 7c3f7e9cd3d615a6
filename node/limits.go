package node

import (
	"time"

	"github.com/patchnet/patchnet/trust"
)

// Bounds on what a node keeps in memory or waits for. Each caps what peers
// can make this process hold before an announcement is accepted.
const (
	// maxDroppedShown bounds the dropped providers a fetched event names,
	// so a fetch that went through many bad records stays one line.
	maxDroppedShown = 3

	// messageIDMemoSize is how many message IDs messageID remembers by
	// the bytes they were derived from: room for the messages in flight
	// at once (a few per topic), each of which gossip brings about six
	// times.
	messageIDMemoSize = 64

	// MaxPendingPayloads caps the payloads whose co-signatures are being
	// merged at once: each is one envelope of at most trust.MaxEnvelopeBytes,
	// so the merge buffer holds at most 256 MiB even under a flood of
	// distinct, validly signed payloads (and far less in practice).
	MaxPendingPayloads = 256
	// MaxConflictingPayloads caps the conflicting co-signed payloads an
	// agent holds (conflict.go), each one envelope of at most
	// trust.MaxEnvelopeBytes: what a compromised supernode can make an
	// agent keep. The oldest is forgotten first; a copy of it arriving
	// again is then told again.
	MaxConflictingPayloads = 64
	// MaxDistrustedSigners caps the supernodes an agent remembers having
	// caught co-signing two payloads of one update version, far more than
	// a zone has supernodes.
	MaxDistrustedSigners = 256
	// MergeTTL is how long co-signatures of one payload are collected: long
	// enough for every supernode of a zone to fetch the artifact and co-sign,
	// short enough that a payload nobody finishes does not linger.
	MergeTTL = time.Hour
	// CoSignCoalesce is how long a supernode holding k co-signatures of a
	// payload waits for those still in flight before announcing it
	// (gather.go): about a hop between supernodes, so those finishing
	// their checks together announce one envelope, at the cost of this
	// much on every acceptance.
	CoSignCoalesce = 100 * time.Millisecond
	// CoSignGatherWindow is how long after co-signing a supernode
	// announces co-signatures that came after its first announce, or what
	// it holds if k never came: what a supernode finishing its check alone
	// (the others slower, down, or their co-signatures lost) delays the
	// agents by.
	CoSignGatherWindow = time.Second
	// MaxEvents caps the node's in-memory event log (Status.Events).
	MaxEvents = 1024
	// MaxTalliedEvents caps the log of the kinds of event a node has one
	// of per agent (Status.Tallied: install reports received or refused).
	MaxTalliedEvents = 64
	// MaxSeedArtifacts caps the artifacts whose co-signers an agent
	// remembers as seeds (seeds.go), each at most content.MaxSeeds peer
	// IDs: far more than updates in flight at once.
	MaxSeedArtifacts = 64
	// InstallQueue is how many accepted announcements may wait for the
	// installer; more are dropped with an event (they stay accepted and the
	// next co-signature retries them).
	InstallQueue = 64
	// MaxFetchAttempts is how often an agent tries to fetch one accepted
	// artifact in a row before giving up until a restart or the next copy
	// of the announcement (its pending record is kept).
	MaxFetchAttempts = 6
	// DefaultFetchRetry is the wait after a first failed fetch; it doubles
	// per attempt (1m, 2m, 4m, ...: half an hour over MaxFetchAttempts).
	DefaultFetchRetry = time.Minute
	// MaxFetchRetryBackoff caps the wait between fetch attempts and bounds
	// Config.FetchRetry.
	MaxFetchRetryBackoff = time.Hour
	// DefaultFetchTimeout bounds fetching one artifact (peers, then vendor).
	DefaultFetchTimeout = 10 * time.Minute
	// MaxFetchTimeout bounds Config.FetchTimeout.
	MaxFetchTimeout = 24 * time.Hour
	// DefaultProviderSearchTimeout bounds the DHT search for providers of an
	// artifact before the vendor URL is tried.
	DefaultProviderSearchTimeout = 10 * time.Second
	// MaxAlertKeys caps the one-off notices (an install, a failure) a node
	// remembers having sent, so each is sent once: far more than the
	// updates one process handles between restarts.
	MaxAlertKeys = 4096
	// NotifyTimeout bounds delivering one notification through every
	// channel, retries included.
	NotifyTimeout = 2 * time.Minute
	// CRLReplayBatch and CRLReplayBatchBytes bound each read of the
	// catch-up store while its CRLs are replayed at start.
	CRLReplayBatch      = 256
	CRLReplayBatchBytes = 4 << 20
	// MaxConfigBytes caps a config file: real ones are a few KiB.
	MaxConfigBytes = 1 << 20
	// RedundantRate and RedundantBurst budget, per sending peer, gossip
	// messages that add no signature to what this node holds: honest relays
	// send a few per announcement; beyond the budget they are Rejected and
	// the sender's gossip score falls.
	RedundantRate  = 1 // per second
	RedundantBurst = 64
	// RedundantPeers caps the peers whose redundancy budget is tracked.
	RedundantPeers = 4096
	// DefaultHeartbeatInterval is how often supernodes send a heartbeat
	// and agents check theirs: an agent cut off notices within about one
	// interval past the maximum age.
	DefaultHeartbeatInterval = time.Minute
	// DefaultHeartbeatMaxAge is how old the k-th freshest heartbeat may be.
	DefaultHeartbeatMaxAge = 3 * time.Minute
	// MaxHeartbeatBytes caps a heartbeat's payload: a few small fields and
	// at most MaxHeartbeatAddrs addresses.
	MaxHeartbeatBytes = 2048
	// MaxHeartbeatAddrs caps the addresses a supernode's heartbeat names
	// (Heartbeat.Addrs): a host's few interfaces and transports.
	MaxHeartbeatAddrs = 8
	// MaxHeartbeatAddrBytes caps the text of the addresses a supernode
	// puts in its heartbeat, so the payload stays under MaxHeartbeatBytes
	// whatever its host listens on (DNS names, certificate hashes).
	MaxHeartbeatAddrBytes = 1280
	// HeartbeatCatchUpPeers is how many peers an alarm catches up from, so
	// that one peer withholding an item cannot hide it.
	HeartbeatCatchUpPeers = 3
	// StateDBMemTable is the memtable of the node's badger database: it holds
	// seen versions and catch-up items of a few KiB each.
	StateDBMemTable = 4 << 20
	// MinStateDBMemTable and MaxStateDBMemTable bound Config.StateDBMemTable.
	// 256 KiB keeps badger's own minimum value log file (1 MiB, at
	// StateDBValueLogFactor) and is what testnet/sim's nodes use; 256 MiB
	// is far beyond a node's few MiB of state.
	MinStateDBMemTable = 256 << 10
	MaxStateDBMemTable = 256 << 20
	// StateDBValueThreshold is the value size from which the node's badger
	// database keeps a value in its value log rather than its LSM tree, at
	// most a StateDBValueThresholdDivisor-th of the memtable: badger takes
	// a transaction of at most 15% of the memtable, which must hold such a
	// value (16 KiB at the smallest memtable, 64 KiB from 1 MiB up).
	StateDBValueThreshold        = 64 << 10
	StateDBValueThresholdDivisor = 16
	// StateDBValueLogFactor is how many memtables one value log file of
	// the node's badger database holds (16 MiB at the default memtable).
	StateDBValueLogFactor = 4
	// StateDBCompactAt is how many level-0 tables the node's badger
	// database may hold before the node compacts it (compactStateDB):
	// badger's own trigger (Options.NumLevelZeroTables), well below the
	// 15 at which its writes stall.
	StateDBCompactAt = 5
	// StateDBCompactCheck is how often the node looks at its database's
	// level 0: one look every 10 s instead of badger's compactors waking
	// every 50 ms each (at 1,000 sim nodes in one process 12 % of an idle
	// zone's CPU). A node writes a few KiB a minute, a memtable flush per
	// MiBs, so level 0 fills over hours, not seconds.
	StateDBCompactCheck = 10 * time.Second
	// MetricsMaxInFlight caps concurrent scrapes of the metrics endpoint;
	// more are answered 503.
	MetricsMaxInFlight = 4
	// MetricsScrapeTimeout bounds gathering and writing one scrape.
	MetricsScrapeTimeout = 10 * time.Second
	// MetricsReadTimeout bounds reading a scrape request.
	MetricsReadTimeout = 5 * time.Second
	// MetricsIdleTimeout closes a scraper's idle keep-alive connection.
	MetricsIdleTimeout = time.Minute
	// MetricsMaxHeaderBytes caps a scrape request's headers.
	MetricsMaxHeaderBytes = 8 << 10
	// MaxAPIRequestBytes caps the body of a request to the local API (a
	// rollback names one transaction), and MaxAPIHeaderBytes its headers.
	MaxAPIRequestBytes = 4 << 10
	MaxAPIHeaderBytes  = 16 << 10
	// MaxAPIApplyBytes caps the body of POST /v1/apply: an envelope of at
	// most trust.MaxEnvelopeBytes, base64 in JSON, and a few short fields.
	MaxAPIApplyBytes = (trust.MaxEnvelopeBytes/3+1)*4 + 16<<10
	// MaxAPIResponseBytes caps what an API client reads of one answer. The
	// install history is the largest: up to install.MaxHistory records of
	// a few KiB each (their tool output included).
	MaxAPIResponseBytes = 256 << 20
	// APIStatusEvents caps the recent events /v1/status carries, newest
	// kept (Status.Events holds up to MaxEvents).
	APIStatusEvents = 100
	// APIStatusPeers caps the connected peers /v1/status lists; it counts
	// them all.
	APIStatusPeers = 512
	// APIStatusUpdates caps the lifecycle records /v1/status lists: every
	// unfinished one, then the most recently updated final ones.
	APIStatusUpdates = 1000
	// APIReadTimeout bounds reading one API request, headers and body.
	APIReadTimeout = 10 * time.Second
	// APIIdleTimeout is how long an idle API connection is kept open.
	APIIdleTimeout = time.Minute
	// APIProbeTimeout bounds the connect that tells a live daemon's socket
	// from a stale one.
	APIProbeTimeout = time.Second
	// APIClientTimeout bounds an API client's status or history request (a
	// rollback takes as long as its installer does).
	APIClientTimeout = 30 * time.Second
	// APIShutdownTimeout bounds how long Close waits for API requests in
	// flight before it closes their connections; a rollback in flight is
	// waited for to its end all the same.
	APIShutdownTimeout = 5 * time.Second
	// StreamExchangeTimeout bounds one exchange on the direct protocols
	// (an install report, a co-signing status query): open, request,
	// answer.
	StreamExchangeTimeout = 10 * time.Second
	// MaxReportBytes caps a signed install report: a few short fields and
	// one certificate chain (trust.MaxChainLength certificates of a few
	// hundred bytes each), far under this.
	MaxReportBytes = 16 << 10
	// MaxReportAnswerBytes caps a supernode's answer to a report: "ok" or
	// a one-line refusal.
	MaxReportAnswerBytes = 4 << 10
	// MaxReportIDBytes and MaxReportReasonBytes cap a report's update id
	// and reason word.
	MaxReportIDBytes     = 256
	MaxReportReasonBytes = 64
	// MaxReportedUpdates caps the update versions a supernode keeps
	// install reports of (a new one deletes the reports of the version
	// reported on least recently), and MaxReportsPerUpdate the agents per
	// version (more are refused): at a few hundred bytes a report, at most
	// a few GiB in the worst case and a few MiB in practice.
	MaxReportedUpdates  = 1024
	MaxReportsPerUpdate = 10000
	// MaxConcurrentExchanges caps the report or status streams a node
	// serves at once, per protocol; more are reset unread (an agent keeps
	// a report no supernode took and sends it again later).
	MaxConcurrentExchanges = 8
	// BlockPruneInterval is how often a node prunes its content block
	// store (and once at start); BlockPruneGrace how old an unkept block
	// must be to go: a fetch or seeding in flight writes younger ones, and
	// an artifact fetched for an announcement it has not noted yet keeps
	// its blocks a day.
	BlockPruneInterval = time.Hour
	BlockPruneGrace    = 24 * time.Hour
	// MaxWaitingReports caps the install reports an agent keeps until a
	// supernode takes them (one per update version), the oldest dropped
	// first; WaitingReportAge is how long one is kept at most. An agent
	// cut off from its supernodes for a week loses the counts of that
	// week, not its database.
	MaxWaitingReports = 256
	WaitingReportAge  = 7 * 24 * time.Hour
	// ReportRate and ReportBurst budget, per agent, the install reports a
	// supernode reads (refused ones too): an agent sends one per update
	// version it finished, and at most MaxWaitingReports at once when it
	// comes back; past the budget a report is refused unread
	// ("rate-limited") and its agent keeps it to send again later, so an
	// agent's key cannot make a supernode verify (and log) reports
	// without end. ReportBudgetPeers caps the agents tracked.
	ReportRate        = 1 // per second
	ReportBurst       = MaxWaitingReports
	ReportBudgetPeers = 16384
	// ReportRetryFirst is how long an agent waits before sending a report
	// no supernode took again, doubling on each round that leaves one
	// waiting up to ReportRetryMax; a new report resets it.
	ReportRetryFirst = 5 * time.Second
	ReportRetryMax   = 10 * time.Minute
	// MaxReportCoSigners caps the co-signers of an update an agent tries
	// to reach, one after the other, for a report no connected supernode
	// took.
	MaxReportCoSigners = 4
	// APIStatusReportAgents caps the agents /v1/status names per update
	// version reported; the counts count them all.
	APIStatusReportAgents = 100
	// MaxCoSignStatusRequestBytes caps a publisher's co-signing status
	// query (an id, a version, a digest), and MaxCoSignStatusAnswerBytes a
	// supernode's signed answer (a status line and its certificate chain).
	MaxCoSignStatusRequestBytes = 1 << 10
	MaxCoSignStatusAnswerBytes  = 16 << 10
	// MaxProposalStates caps the proposals a supernode remembers its
	// progress on (for publishers' status queries), oldest forgotten first.
	MaxProposalStates = 256
	// MaxProposalReasonBytes caps the refusal reason a supernode tells a
	// publisher: one error's text.
	MaxProposalReasonBytes = 1 << 10
)

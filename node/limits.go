package node

import "time"

// Bounds on what a node keeps in memory or waits for. Each caps what peers
// can make this process hold before an announcement is accepted.
const (
	// MaxPendingPayloads caps the payloads whose co-signatures are being
	// merged at once: each is one envelope of at most trust.MaxEnvelopeBytes,
	// so the merge buffer holds at most 256 MiB even under a flood of
	// distinct, validly signed payloads (and far less in practice).
	MaxPendingPayloads = 256
	// MergeTTL is how long co-signatures of one payload are collected: long
	// enough for every supernode of a zone to fetch the artifact and co-sign,
	// short enough that a payload nobody finishes does not linger.
	MergeTTL = time.Hour
	// MaxEvents caps the node's in-memory event log (Status.Events).
	MaxEvents = 1024
	// InstallQueue is how many accepted announcements may wait for the
	// installer; more are dropped with an event (they stay accepted and the
	// next co-signature retries them).
	InstallQueue = 64
	// DefaultFetchTimeout bounds fetching one artifact (peers, then vendor).
	DefaultFetchTimeout = 10 * time.Minute
	// MaxFetchTimeout bounds Config.FetchTimeout.
	MaxFetchTimeout = 24 * time.Hour
	// DefaultProviderSearchTimeout bounds the DHT search for providers of an
	// artifact before the vendor URL is tried.
	DefaultProviderSearchTimeout = 10 * time.Second
	// NotifyTimeout bounds delivering one notification through every
	// channel, retries included.
	NotifyTimeout = 2 * time.Minute
	// MaxConfigBytes caps a config file: real ones are a few KiB.
	MaxConfigBytes = 1 << 20
	// StateDBMemTable is the memtable of the node's badger database: it holds
	// seen versions and catch-up items of a few KiB each.
	StateDBMemTable = 4 << 20
)

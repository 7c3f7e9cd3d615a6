package updates

import "time"

// Bounds on everything package updates decodes, fetches or stores. An
// announcement arrives from the network before anyone has looked at it, so
// every list and string is bounded; an input past a bound is an error that
// names the bound, never a silent truncation.
const (
	// MaxAnnouncementBytes bounds an announcement's JSON. Real OSV records
	// with hundreds of affected versions stay well below 256 KiB.
	MaxAnnouncementBytes = 256 << 10
	// MaxAffected bounds affected[].
	MaxAffected = 256
	// MaxRanges bounds affected[].ranges[].
	MaxRanges = 32
	// MaxEvents bounds affected[].ranges[].events[].
	MaxEvents = 64
	// MaxVersions bounds affected[].versions[].
	MaxVersions = 4096
	// MaxAliases bounds aliases[], upstream[] and related[] each.
	MaxAliases = 256
	// MaxReferences bounds references[] and severity[].
	MaxReferences = 256
	// MaxURLs bounds patchnet.artifact.urls[].
	MaxURLs = 16
	// MaxIDLength bounds the id and each alias.
	MaxIDLength = 128
	// MaxNameLength bounds package names, ecosystems, versions and the
	// artifact name.
	MaxNameLength = 256
	// MaxURLLength bounds each URL.
	MaxURLLength = 2048
	// MaxSummaryLength bounds summary (OSV recommends one line).
	MaxSummaryLength = 1024
	// MaxDetailsLength bounds details and the artifact instructions.
	MaxDetailsLength = 64 << 10
	// MaxArtifactSize bounds patchnet.artifact.size: 16 GiB covers any
	// package or firmware image we expect to push.
	MaxArtifactSize = 16 << 30
	// MaxValidity bounds expires - modified: an announcement cannot stay
	// valid for longer than a year, so a stolen-then-replayed announcement
	// cannot freeze a host for ever.
	MaxValidity = 366 * 24 * time.Hour
	// MaxClockSkew is how far in the future an announcement's modified time
	// may lie by this node's clock (a publisher whose clock runs ahead);
	// validity is always bounded from the verifying node's clock.
	MaxClockSkew = 5 * time.Minute
	// MaxJSONDepth bounds the nesting of an announcement's JSON (OSV needs
	// six levels; free-form fields get the rest).
	MaxJSONDepth = 32
	// MaxVersionLength bounds a version string handed to a comparator.
	MaxVersionLength = 256
)

// Fetch bounds.
const (
	// FetchBufferSize is the copy buffer of FetchURL; 1 MiB keeps syscalls
	// rare on fast loopback and LAN transfers.
	FetchBufferSize = 1 << 20
	// FetchBuffers is how many buffers circulate between the reading and the
	// writing goroutine, so network reads overlap hashing and disk writes.
	FetchBuffers = 4
	// DefaultFetchTimeout bounds one HTTP response header wait.
	DefaultFetchTimeout = 30 * time.Second
	// DefaultStallTimeout aborts a transfer that delivers no byte for this
	// long (a slow-retrieval attack, or a dead peer); the partial is kept.
	DefaultStallTimeout = 60 * time.Second
	// ProgressInterval is how many bytes pass between progress callbacks.
	ProgressInterval = 4 << 20
)

// Respond and notify bounds.
const (
	// MaxMaintenanceWindows bounds respond.maintenance_windows.
	MaxMaintenanceWindows = 64
	// MaxWebhookAttempts bounds webhook retries.
	MaxWebhookAttempts = 10
	// MaxWebhookBackoff bounds the wait between two webhook attempts.
	MaxWebhookBackoff = 5 * time.Minute
	// MaxWebhookResponseBytes bounds how much of a webhook reply is read
	// (only to quote it in an error).
	MaxWebhookResponseBytes = 4 << 10
	// DefaultNotifyTimeout bounds one SMTP session or webhook request.
	DefaultNotifyTimeout = 30 * time.Second
	// MaxRecipients bounds notify.smtp.to.
	MaxRecipients = 64
)

// Acceptance bounds.
const (
	// MaxThreshold bounds policy.threshold (distinct supernode co-signers);
	// trust bounds the signatures per envelope anyway.
	MaxThreshold = 64
	// MaxSignersRecorded bounds how many signer names a seen-record or a
	// quarantine record keeps per side.
	MaxSignersRecorded = 64
)

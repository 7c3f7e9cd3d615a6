package install

import "time"

// Bounds on what install reads, runs and stores.
const (
	// MaxToolOutput bounds the output of one tool run kept in the journal;
	// the tail past it is dropped and the drop is noted.
	MaxToolOutput = 64 << 10
	// MaxTransactionLog bounds a transaction's whole log.
	MaxTransactionLog = 256 << 10
	// MaxTransactionBytes bounds one encoded journal record.
	MaxTransactionBytes = 1 << 20
	// MaxSteps bounds the steps recorded in one transaction.
	MaxSteps = 64
	// MaxAlerts bounds the alerts recorded in one transaction.
	MaxAlerts = 16
	// DefaultToolTimeout bounds one run of dpkg, rpm or apk.
	DefaultToolTimeout = 10 * time.Minute
	// DefaultScriptTimeout bounds one run of an update script.
	DefaultScriptTimeout = 10 * time.Minute
	// MaxArchiveBytes bounds the total uncompressed size of an archive, so
	// a small compressed file cannot fill the disk (zip bomb).
	MaxArchiveBytes = 4 << 30
	// MaxArchiveEntries bounds the number of entries of an archive.
	MaxArchiveEntries = 100_000
	// MaxArchiveRatio bounds uncompressed/compressed size of a zip entry;
	// real software compresses far less than 1000:1.
	MaxArchiveRatio = 1000
	// MaxPathLength bounds one archive entry's name.
	MaxPathLength = 4096
	// MaxPackageField bounds a package name or version read from a tool.
	MaxPackageField = 256
	// MaxHistory bounds how many transactions History returns.
	MaxHistory = 10_000
	// ScriptHeadBytes is how much of a script is searched for its
	// "patchnet: rollback" declaration.
	ScriptHeadBytes = 4 << 10
	// JournalLockWait bounds how long opening the journal waits for
	// another holder of its lock to let go.
	JournalLockWait = 3 * time.Second
	// journalLockPoll is how often the lock is tried while waiting.
	journalLockPoll = 25 * time.Millisecond
	// ToolWaitDelay bounds the wait for a killed tool's output pipes to
	// close (a grandchild holding them open).
	ToolWaitDelay = 5 * time.Second
	// DefaultKeepLast is how many committed transactions per target keep
	// their before-states: the last upgrade and the two before it can be
	// undone without a network.
	DefaultKeepLast = 3
	// MaxKeepLast bounds Retention.KeepLast.
	MaxKeepLast = 1000
	// DefaultRetentionBytes bounds what kept files take in all: a few
	// package versions and trees of a host fit many times over.
	DefaultRetentionBytes = 2 << 30
	// MaxRetentionBytes bounds Retention.MaxBytes (1 TiB).
	MaxRetentionBytes = 1 << 40
	// MaxPrunedFiles bounds the files one prune record lists, so a record
	// stays far below MaxTransactionBytes; more make more records.
	MaxPrunedFiles = 1000
)

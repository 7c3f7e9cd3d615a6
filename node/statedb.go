package node

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/patchnet/patchnet/internal/badgerdb"
)

// openDB opens the node's database in State/node. It is on disk even with
// InMemory: it holds the rollback floor (seen versions), pending installs
// and co-signing records, which must survive a restart. It runs without
// badger's compactors, each of which wakes every 50 ms for the life of
// the process (hard-coded in badger): an idle agent should cost its host
// nothing, and a node's few MiB of state need compacting rarely, which
// compactLoop does. NumLevelZeroTables is then only what Flatten weighs
// level 0 by: at 1 it moves level 0 down whenever compactStateDB asks
// (at badger's default of 5 it would leave 5 tables where they are).
func openDB(cfg Config) (*badger.DB, error) {
	cfg = cfg.withDefaults()
	opts := badger.DefaultOptions(filepath.Join(cfg.State, "node"))
	// No compression, so no block cache: the cache (ristretto) costs about
	// 330 KB and a goroutine however small it is set, more than a node's
	// whole state, and blocks of an uncompressed table are read in place.
	// Tables an older build wrote compressed still open: the manifest
	// names each table's compression.
	opts = opts.WithLogger(nil).WithMemTableSize(cfg.StateDBMemTable).
		WithCompression(options.None).WithBlockCacheSize(0).
		WithValueLogFileSize(StateDBValueLogFactor * cfg.StateDBMemTable).WithNumVersionsToKeep(1).WithNumCompactors(0).
		WithNumLevelZeroTables(1).
		WithValueThreshold(min(StateDBValueThreshold, cfg.StateDBMemTable/StateDBValueThresholdDivisor))
	db, err := badgerdb.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("opening node database: %w", err)
	}
	return db, nil
}

// OpenStateDB opens the state database of the state directory state (its
// node subdirectory): where the agent and `patchnet apply` keep the one
// rollback floor (seen versions) of the host. Close it when done.
func OpenStateDB(state string) (*badger.DB, error) {
	return openDB(Config{State: state})
}

// compactLoop compacts the state database whenever its level 0 has
// filled (compactStateDB), checking every StateDBCompactCheck until ctx
// ends.
func (n *Node) compactLoop(ctx context.Context) {
	t := time.NewTicker(StateDBCompactCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := compactStateDB(n.db); err != nil {
			n.log.Warn("compacting the state database", "err", err)
		}
	}
}

// compactStateDB compacts db into one level once its level 0 holds
// StateDBCompactAt tables (a memtable flush adds one; at
// badger.Options.NumLevelZeroTablesStall writes would wait), and reports
// whether it did.
func compactStateDB(db *badger.DB) (bool, error) {
	if level0Tables(db) < StateDBCompactAt {
		return false, nil
	}
	if err := db.Flatten(1); err != nil {
		return false, fmt.Errorf("compacting the state database: %w", err)
	}
	return true, nil
}

// level0Tables is how many tables db's level 0 holds.
func level0Tables(db *badger.DB) int {
	for _, l := range db.Levels() {
		if l.Level == 0 {
			return l.NumTables
		}
	}
	return 0
}

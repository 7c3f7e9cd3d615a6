package install

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/internal/badgerdb"
)

// BadgerStore is the journal on disk: one badger database, each transaction
// one key, every write synced before Put returns.
type BadgerStore struct {
	db  *badger.DB
	dir string
}

// txKeyPrefix namespaces journal records, so the database can hold other
// keys later.
const txKeyPrefix = "tx/"

// OpenBadgerStore opens (creating if needed) the journal in dir. A database
// badger cannot read is an error naming dir; nothing holding data is
// deleted or rewritten, so the operator can copy it away and look.
func OpenBadgerStore(dir string) (*BadgerStore, error) {
	db, err := OpenBadger(dir)
	if err != nil {
		return nil, fmt.Errorf("opening install journal: %w", err)
	}
	return &BadgerStore{db: db, dir: dir}, nil
}

// OpenBadger opens (creating if needed) a small, synced badger database in
// dir, as the journal uses and as patchnet apply uses for its seen
// versions, through badgerdb.Open, which repairs the empty logs a crash
// leaves. Any other unreadable database is an error naming dir, left
// untouched.
func OpenBadger(dir string) (*badger.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(true).     // a step is journalled before the next runs
		WithNumVersionsToKeep(1). // history lives in the records, not versions
		WithValueLogFileSize(16 << 20).
		WithMemTableSize(8 << 20). // records are a few KiB
		WithValueThreshold(64 << 10).
		WithBlockCacheSize(8 << 20)
	db, err := openWaitingForLock(opts)
	if err != nil {
		return nil, fmt.Errorf("leaving the database untouched: %w", err)
	}
	return db, nil
}

// openWaitingForLock opens a badger database, waiting up to JournalLockWait
// while its directory lock is held. The lock is an flock, and a child
// process forked by another goroutine holds the lock's file description
// until it execs; the wait also lets one patchnet command finish before the
// next opens the journal. Badger's error has no sentinel, hence the text.
func openWaitingForLock(opts badger.Options) (*badger.DB, error) {
	deadline := time.Now().Add(JournalLockWait)
	for {
		db, err := badgerdb.Open(opts)
		if err == nil || !strings.Contains(err.Error(), "Cannot acquire directory lock") || time.Now().After(deadline) {
			return db, err
		}
		time.Sleep(journalLockPoll)
	}
}

// Put writes tx and syncs it.
func (s *BadgerStore) Put(tx *Transaction) error {
	b, err := encodeTransaction(tx)
	if err != nil {
		return err
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(txKeyPrefix+tx.ID), b)
	})
	if err != nil {
		return fmt.Errorf("writing transaction %s to %s: %w", tx.ID, s.dir, err)
	}
	return nil
}

// Get reads one transaction.
func (s *BadgerStore) Get(id string) (*Transaction, error) {
	var tx *Transaction
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(txKeyPrefix + id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("transaction %s: %w", clipText(id), ErrNotFound)
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			tx, err = decodeTransaction(v)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading journal %s: %w", s.dir, err)
	}
	return tx, nil
}

// List reads the newest MaxHistory transactions, oldest first. Ids sort by
// time, so iterating keys in reverse finds the newest first.
func (s *BadgerStore) List() ([]*Transaction, error) {
	var out []*Transaction
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.Prefix = []byte(txKeyPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek([]byte(txKeyPrefix + "\xff")); it.Valid() && len(out) < MaxHistory; it.Next() {
			err := it.Item().Value(func(v []byte) error {
				tx, err := decodeTransaction(v)
				if err != nil {
					return fmt.Errorf("record %q: %w", it.Item().Key(), err)
				}
				out = append(out, tx)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading journal %s: %w", s.dir, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Close closes the database.
func (s *BadgerStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing journal %s: %w", s.dir, err)
	}
	return nil
}

package node

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// getRecord reads the JSON record at key; ok is false when there is none.
// The co-sign and pending-install stores keep one such record per id.
func getRecord[T any](db *badger.DB, key string) (rec T, ok bool, err error) {
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &rec) })
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return rec, false, nil
	case err != nil:
		return rec, false, fmt.Errorf("reading %s: %w", key, err)
	}
	return rec, true, nil
}

// putRecord writes rec as JSON at key.
func putRecord(db *badger.DB, key string, rec any) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(key), v) }); err != nil {
		return fmt.Errorf("writing %s: %w", key, err)
	}
	return nil
}

// deleteRecord removes the record at key.
func deleteRecord(db *badger.DB, key string) error {
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(key)) }); err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}

// deletePrefix removes every record under prefix and says how many.
func deletePrefix(db *badger.DB, prefix string) (int, error) {
	var keys [][]byte
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", prefix, err)
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return 0, fmt.Errorf("deleting %s: %w", k, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, fmt.Errorf("deleting %s: %w", prefix, err)
	}
	return len(keys), nil
}

// countRecords is how many keys db holds under prefix, read without
// their values.
func countRecords(db *badger.DB, prefix string) (int, error) {
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// eachRecord calls fn with the key and JSON record of every key under
// prefix, in key order, and stops at fn's first error.
func eachRecord[T any](db *badger.DB, prefix string, fn func(key string, rec T) error) error {
	return db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var rec T
			key := string(it.Item().Key())
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
				return fmt.Errorf("decoding %s: %w", key, err)
			}
			if err := fn(key, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

package node

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/internal/badgerdb/badgerdbtest"
)

// TestOpenDBAfterInterruptedCreate checks the node's database goes through
// badgerdb.Open: a crash between badger creating a log and sizing it must
// not leave the node unable to start.
func TestOpenDBAfterInterruptedCreate(t *testing.T) {
	for _, kind := range []string{badgerdbtest.MemLog, badgerdbtest.ValueLog} {
		t.Run(kind, func(t *testing.T) {
			cfg := Config{State: t.TempDir()}
			db, err := openDB(cfg)
			if err != nil {
				t.Fatal(err)
			}
			key, value := []byte("k"), []byte("v")
			if err := db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) }); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			badgerdbtest.InterruptCreate(t, filepath.Join(cfg.State, "node"), kind)
			if db, err = openDB(cfg); err != nil {
				t.Fatalf("opening the node database after a crash: %v", err)
			}
			defer db.Close()
			err = db.View(func(txn *badger.Txn) error {
				item, err := txn.Get(key)
				if err != nil {
					return err
				}
				got, err := item.ValueCopy(nil)
				if err == nil && string(got) != string(value) {
					t.Errorf("value %q, want %q", got, value)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOpenDBMemTables checks the state database holds the same data at
// testnet/sim's smallest memtable as at the default, across a reopen: a
// value past the small memtable's value threshold (kept in the value log),
// small values, and one transaction of many keys.
func TestOpenDBMemTables(t *testing.T) {
	for _, size := range []int64{MinStateDBMemTable, StateDBMemTable} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			cfg := Config{State: t.TempDir(), StateDBMemTable: size}
			want := map[string][]byte{"big": bytes.Repeat([]byte{7}, 40<<10)}
			for i := range 200 {
				want[fmt.Sprintf("seen/%03d", i)] = []byte(fmt.Sprint(i))
			}
			db, err := openDB(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(txn *badger.Txn) error {
				for k, v := range want {
					if err := txn.Set([]byte(k), v); err != nil {
						return err
					}
				}
				return nil
			})
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("writing %d keys: %v", len(want), err)
			}
			if db, err = openDB(cfg); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if diff := cmp.Diff(want, readAllKeys(t, db)); diff != "" {
				t.Errorf("after reopening (-want +got):\n%s", diff)
			}
		})
	}
}

// readAllKeys is every key of db with its value.
func readAllKeys(t *testing.T, db *badger.DB) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			got[string(it.Item().Key())] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

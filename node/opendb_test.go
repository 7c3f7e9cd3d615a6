package node

import (
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

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

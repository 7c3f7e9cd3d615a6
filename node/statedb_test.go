package node

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/google/go-cmp/cmp"
)

// TestStateDBCompactsWithoutCompactors: the state database runs none of
// badger's compactor goroutines (each wakes every 50 ms for the life of
// the process), and compactStateDB folds its level 0 away once full, the
// data intact.
func TestStateDBCompactsWithoutCompactors(t *testing.T) {
	db, err := openDB(Config{State: t.TempDir(), StateDBMemTable: MinStateDBMemTable})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if stacks := allStacks(); strings.Contains(stacks, "runCompactor") {
		t.Fatalf("badger compactors running beside the state database:\n%s", stacks)
	}
	if did, err := compactStateDB(db); did || err != nil {
		t.Fatalf("compacted an empty database: %v, %v", did, err)
	}
	value := bytes.Repeat([]byte{0xa5}, 1<<10)
	keys := 0
	for deadline := time.Now().Add(30 * time.Second); level0Tables(db) < StateDBCompactAt; keys += 20 {
		if time.Now().After(deadline) {
			t.Fatalf("level 0 holds %d tables after %d keys", level0Tables(db), keys)
		}
		err := db.Update(func(txn *badger.Txn) error {
			for i := range 20 {
				if err := txn.Set(fmt.Appendf(nil, "k/%08d", keys+i), value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if did, err := compactStateDB(db); !did || err != nil {
		t.Fatalf("compacting a full level 0: %v, %v", did, err)
	}
	if n := level0Tables(db); n != 0 {
		t.Errorf("level 0 holds %d tables after compacting", n)
	}
	if got := countKeys(t, db); got != keys {
		t.Errorf("%d keys after compacting, want %d", got, keys)
	}
	if strings.Contains(allStacks(), "runCompactor") {
		t.Errorf("compacting started badger's compactors")
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func countKeys(t *testing.T, db *badger.DB) int {
	t.Helper()
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStateDBReadsCompressedTables: the state database keeps no block cache
// (its ristretto cache cost ~330 KB and a goroutine a node, more than the
// state) and writes tables uncompressed, and a database an older build
// wrote with snappy-compressed tables and a cache opens with every key.
func TestStateDBReadsCompressedTables(t *testing.T) {
	cfg := Config{State: t.TempDir(), StateDBMemTable: MinStateDBMemTable}
	old := badger.DefaultOptions(filepath.Join(cfg.State, "node")).WithLogger(nil).
		WithMemTableSize(MinStateDBMemTable).WithBlockCacheSize(MinStateDBMemTable).WithCompression(options.Snappy).
		WithValueThreshold(1 << 10)
	db, err := badger.Open(old)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	err = db.Update(func(txn *badger.Txn) error {
		for i := range 200 {
			k, v := fmt.Sprintf("k/%04d", i), strings.Repeat("v", i)
			want[k] = []byte(v)
			if err := txn.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // flushes the memtable into a snappy table
		t.Fatal(err)
	}
	db, err = openDB(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.BlockCacheMetrics() != nil {
		t.Error("the state database has a block cache")
	}
	if tables := db.Tables(); len(tables) == 0 || tables[0].KeyCount == 0 {
		t.Fatalf("no table on disk to read back: %+v", tables)
	}
	if d := cmp.Diff(want, readAllKeys(t, db)); d != "" {
		t.Errorf("keys read back (-want +got):\n%s", d)
	}
}

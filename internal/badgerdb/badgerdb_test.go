package badgerdb

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/internal/badgerdb/badgerdbtest"
)

// Sizes that make badger create logs and tables often; values above
// testValueThreshold go to the value log.
const (
	testMemTable       = 256 << 10
	testValueLog       = 1 << 20 // badger's smallest
	testValueThreshold = 1 << 10
	testVlogEntries    = 64
	smallValue         = 64
	largeValue         = 3 << 10
	sampleKeys         = 40
)

// warnings records what Open reports through badger's logger.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

// Warningf records a warning; Open reports its repairs at this level.
func (w *warnings) Warningf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, fmt.Sprintf(format, args...))
}

// Errorf, Infof and Debugf drop badger's own messages.
func (w *warnings) Errorf(string, ...any) {}
func (w *warnings) Infof(string, ...any)  {}
func (w *warnings) Debugf(string, ...any) {}

// all returns the warnings recorded so far.
func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// testOptions are synced, small-sized options for dir, reporting to w.
func testOptions(dir string, w *warnings) badger.Options {
	return badger.DefaultOptions(dir).WithLogger(w).WithSyncWrites(true).
		WithMemTableSize(testMemTable).WithValueLogFileSize(testValueLog).
		WithValueThreshold(testValueThreshold).WithValueLogMaxEntries(testVlogEntries)
}

// sampleValue is the value of key, the i-th of its transaction or sample:
// small or large by i's parity, so values land both in the memtable log and
// in the value log.
func sampleValue(key string, i int) []byte {
	size := smallValue
	if i%2 == 1 {
		size = largeValue
	}
	return bytes.Repeat([]byte(key+";"), size/len(key)+1)[:size]
}

// writeSample writes sampleKeys keys in several transactions and closes.
func writeSample(t *testing.T, dir string) {
	t.Helper()
	db, err := Open(testOptions(dir, &warnings{}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sampleKeys {
		key := fmt.Sprintf("key%03d", i)
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(key), sampleValue(key, i)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkSample fails unless db holds what writeSample wrote.
func checkSample(t *testing.T, db *badger.DB) {
	t.Helper()
	err := db.View(func(txn *badger.Txn) error {
		for i := range sampleKeys {
			key := fmt.Sprintf("key%03d", i)
			item, err := txn.Get([]byte(key))
			if err != nil {
				return fmt.Errorf("reading %s: %w", key, err)
			}
			got, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("reading %s: %w", key, err)
			}
			if !bytes.Equal(got, sampleValue(key, i)) {
				return fmt.Errorf("%s: wrong value", key)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// copyDir copies the flat directory src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestOpenRepairsCrashLeftovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		// leave makes, in a closed database holding the sample, the empty
		// log a crash leaves, and returns its path.
		leave func(t *testing.T, dir string) string
		// sized is whether the log must be kept, sized, rather than removed.
		sized bool
	}{
		{name: "memtable log being created", leave: interruptCreate(badgerdbtest.MemLog)},
		{name: "value log being created", leave: interruptCreate(badgerdbtest.ValueLog), sized: true},
		{name: "value log being deleted", leave: interruptValueLogDelete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSample(t, dir)
			empty := tc.leave(t, dir)

			// The fixture is the bug: badger alone refuses it (issue #2207).
			if db, err := badger.Open(testOptions(copyDir(t, dir), &warnings{})); err == nil {
				db.Close()
				t.Fatalf("badger.Open opened a directory with an empty %s; the test no longer exercises the repair", filepath.Base(empty))
			}

			w := &warnings{}
			db, err := Open(testOptions(dir, w))
			if err != nil {
				t.Fatalf("Open after a crash: %v", err)
			}
			checkSample(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if msgs := w.all(); len(msgs) != 1 || !strings.Contains(msgs[0], empty) {
				t.Errorf("reported %q, want one warning naming %s", msgs, empty)
			}
			if tc.sized {
				checkNumberKept(t, dir, empty)
			}
			reopenClean(t, dir)
		})
	}
}

// interruptCreate returns a leave that interrupts the next create of kind.
func interruptCreate(kind string) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string { return badgerdbtest.InterruptCreate(t, dir, kind) }
}

// interruptValueLogDelete leaves what a crash leaves when badger, opening
// a database whose older value log holds no entries, deletes it
// (valueLog.open) and is killed between truncating it and removing it
// (z.MmapFile.Delete): that log empty, a newer one after it.
func interruptValueLogDelete(t *testing.T, dir string) string {
	t.Helper()
	reopenClean(t, dir) // closes with a newer, entry-less value log
	db, err := Open(testOptions(dir, &warnings{}))
	if err != nil {
		t.Fatal(err)
	}
	checkSample(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	logs, err := listLogs(logKind{dir: dir, ext: badgerdbtest.ValueLog})
	if err != nil || len(logs) < 2 || logs[len(logs)-2].size != vlogHeader {
		t.Fatalf("value logs %+v, %v: want an entry-less one before the newest", logs, err)
	}
	older := logs[len(logs)-2].path
	if err := os.Truncate(older, 0); err != nil {
		t.Fatal(err)
	}
	return older
}

// vlogHeader is the size of an entry-less value log: badger's
// vlogHeaderSize, a key id and an IV.
const vlogHeader = 20

// checkNumberKept fails if badger gave the number of the sized value log
// at path to a new log: value pointers name logs by number.
func checkNumberKept(t *testing.T, dir, path string) {
	t.Helper()
	logs, err := listLogs(logKind{dir: dir, ext: badgerdbtest.ValueLog})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 || logs[len(logs)-1].path == path {
		t.Errorf("value logs %+v: want one newer than %s", logs, filepath.Base(path))
	}
}

// reopenClean opens dir again, expecting no repair and the sample intact.
func reopenClean(t *testing.T, dir string) {
	t.Helper()
	w := &warnings{}
	db, err := Open(testOptions(dir, w))
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	defer db.Close()
	checkSample(t, db)
	if msgs := w.all(); len(msgs) != 0 {
		t.Errorf("second open reported %q, want nothing", msgs)
	}
}

func TestOpenLeavesOtherDamage(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage empties a file of the closed database and returns its path.
		damage   func(t *testing.T, dir string) string
		readOnly bool
		wantErr  string
	}{
		{name: "manifest emptied", damage: emptyFile("MANIFEST"), wantErr: "bad magic"},
		{name: "key registry emptied", damage: emptyFile("KEYREGISTRY"), wantErr: "key registry"},
		{name: "read-only after an interrupted create", damage: interruptCreate(badgerdbtest.ValueLog),
			readOnly: true, wantErr: "opening the database read-write repairs it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSample(t, dir)
			path := tc.damage(t, dir)
			w := &warnings{}
			db, err := Open(testOptions(dir, w).WithReadOnly(tc.readOnly))
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded on a damaged database")
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want one naming %s and saying %q", err, dir, tc.wantErr)
			}
			if info, err := os.Stat(path); err != nil || info.Size() != 0 {
				t.Errorf("%s was changed: %v %v", path, info, err)
			}
			if msgs := w.all(); len(msgs) != 0 {
				t.Errorf("reported repairs %q, want none", msgs)
			}
		})
	}
}

// emptyFile returns a damage that truncates name to 0 bytes.
func emptyFile(name string) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// TestOpenLeavesHeldDatabase checks that a database another holder has
// open is not repaired: its newest log may be empty only for the moment
// between badger creating and sizing it.
func TestOpenLeavesHeldDatabase(t *testing.T) {
	dir := t.TempDir()
	writeSample(t, dir)
	holder, err := Open(testOptions(dir, &warnings{}))
	if err != nil {
		t.Fatal(err)
	}
	empty := badgerdbtest.InterruptCreate(t, dir, badgerdbtest.MemLog)
	w := &warnings{}
	if db, err := Open(testOptions(dir, w)); err == nil {
		db.Close()
		t.Fatal("a second Open of a held database succeeded")
	} else if !strings.Contains(err.Error(), "Cannot acquire directory lock") {
		t.Errorf("error %q, want badger's lock error", err)
	}
	if info, err := os.Stat(empty); err != nil || info.Size() != 0 || len(w.all()) != 0 {
		t.Errorf("%s was touched while held: %v %v, reported %q", empty, info, err, w.all())
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(testOptions(dir, w))
	if err != nil {
		t.Fatalf("Open once the holder closed: %v", err)
	}
	defer db.Close()
	checkSample(t, db)
}

func TestOpenNewDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "db")
	db, err := Open(testOptions(dir, &warnings{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); errors.Is(err, fs.ErrNotExist) {
		t.Error("no database was created")
	}
}

// Package badgerdb is the one way patchnet opens a badger database, so
// every store gets the same repair of what a crash leaves behind.
//
// Badger v4.9.6 cannot open a directory holding a 0-byte memtable log
// (NNNNN.mem) or value log (NNNNNN.vlog), and a crash leaves one at two
// moments. Badger creates a log in two steps, open with O_CREATE then
// truncate to its preallocated size (ristretto z.OpenMmapFileUsing), and
// deletes one in three, truncate to 0 then close then remove
// (z.MmapFile.Delete). On an existing 0-byte log, z.OpenMmapFile truncates
// it and returns the sentinel z.NewFile, which DB.openMemTables and
// valueLog.open take for an error ("while opening fid: 1 err: Create a new
// file"; badger issue #2207).
package badgerdb

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"

	"github.com/patchnet/patchnet/internal/fsutil"
)

// logKind is one kind of log file badger preallocates.
type logKind struct {
	dir string
	ext string
	// size is what badger truncates a new log to: memtable.go
	// openMemTable passes 2*MemTableSize, value.go createVlogFile
	// 2*ValueLogFileSize.
	size int64
	// numbered is whether anything refers to a log by its number: value
	// pointers in the LSM tree name value logs; nothing names a memtable
	// log, whose number openMemTables only uses to order them.
	numbered bool
}

// preallocFactor is the multiple of the configured size badger truncates a
// new log to.
const preallocFactor = 2

// Open opens the database opts describes, as badger.Open does, after
// repairing the 0-byte logs a crash leaves. None holds data: a log is
// sized before anything is written to it, and emptied only once badger no
// longer needs it (a memtable log once its memtable is in a table the
// manifest records, or held nothing; a value log once value-log GC moved
// its live values, or held none). So an empty log is removed, except the
// newest value log, which is truncated to the size badger would have given
// it: badger never reuses a value log's number (createVlogFile takes one
// past the highest, valueLog.open keeps the newest log even when empty),
// and the file keeps the number taken. That is the state a crash just after
// badger's own truncate leaves, which badger opens: the log is all zeros,
// so its header names no encryption key and its first entry is the zero
// entry that ends a replay.
//
// A read-only database is not repaired: an empty log there is an error
// saying what is wrong. Nothing is checked while another process holds the
// directory (its newest log may be 0 bytes for a moment); badger's own
// directory lock then refuses the open. Each repair is reported through
// opts.Logger as a warning.
func Open(opts badger.Options) (*badger.DB, error) {
	if !opts.InMemory {
		if err := repairLogs(opts); err != nil {
			return nil, fmt.Errorf("opening badger database in %s: %w", opts.Dir, err)
		}
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("opening badger database in %s: %w", opts.Dir, err)
	}
	return db, nil
}

// kinds lists the log kinds of opts with their directories.
func kinds(opts badger.Options) []logKind {
	return []logKind{
		{dir: opts.Dir, ext: ".mem", size: preallocFactor * opts.MemTableSize},
		{dir: opts.ValueDir, ext: ".vlog", size: preallocFactor * opts.ValueLogFileSize, numbered: true},
	}
}

// repairLogs repairs the empty logs of opts's directories, holding
// badger's directory locks so no running badger is creating or deleting
// one.
func repairLogs(opts badger.Options) error {
	release, held, err := lockDirs(opts)
	if err != nil || !held {
		return err
	}
	defer release()
	for _, k := range kinds(opts) {
		if err := repairKind(k, opts); err != nil {
			return err
		}
	}
	return nil
}

// repairKind removes the empty logs of kind k, or sizes the newest if its
// number must stay taken.
func repairKind(k logKind, opts badger.Options) error {
	logs, err := listLogs(k)
	if err != nil {
		return err
	}
	removed := false
	for i, l := range logs {
		if l.size != 0 {
			continue
		}
		if opts.ReadOnly {
			return fmt.Errorf("%s is empty, left by a crash while badger created or deleted it: opening the database read-write repairs it", l.path)
		}
		if k.numbered && i == len(logs)-1 {
			// Not synced: if the new size is lost, the log is empty again
			// and the next open sizes it again.
			if err := os.Truncate(l.path, k.size); err != nil {
				return fmt.Errorf("sizing %s, left empty by a crash: %w", l.path, err)
			}
			report(opts, "%s was empty, its creation interrupted by a crash: sized it to %d bytes", l.path, k.size)
			continue
		}
		if err := os.Remove(l.path); err != nil {
			return fmt.Errorf("removing %s, left empty by a crash: %w", l.path, err)
		}
		removed = true
		report(opts, "%s was empty, its creation or deletion interrupted by a crash: removed it", l.path)
	}
	if removed {
		return fsutil.SyncDir(k.dir)
	}
	return nil
}

// report tells opts.Logger, if any, of a repair.
func report(opts badger.Options, format string, args ...any) {
	if opts.Logger != nil {
		opts.Logger.Warningf("badgerdb: "+format, args...)
	}
}

// syncDir makes removals in dir durable, so a removed log cannot return

// lockDirs takes badger's lock on opts's directories: a flock on the
// directory itself (dir_unix.go acquireDirectoryLock), shared for a
// read-only database, else exclusive. A directory that does not exist yet
// holds no logs and is skipped. held is false, and nothing locked, if
// another process holds a lock.
func lockDirs(opts badger.Options) (release func(), held bool, err error) {
	how := unix.LOCK_EX
	if opts.ReadOnly {
		how = unix.LOCK_SH
	}
	var files []*os.File
	release = func() {
		for _, f := range files {
			f.Close() // closing the only descriptor releases the flock
		}
	}
	for _, d := range distinctDirs(opts.Dir, opts.ValueDir) {
		f, err := os.Open(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			release()
			return nil, false, fmt.Errorf("opening %s to lock it: %w", d, err)
		}
		files = append(files, f)
		err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			release()
			return nil, false, nil
		}
		if err != nil {
			release()
			return nil, false, fmt.Errorf("locking %s: %w", d, err)
		}
	}
	return release, true, nil
}

// distinctDirs is dir and valueDir, once if they are the same directory,
// compared as badger.Open compares them.
func distinctDirs(dir, valueDir string) []string {
	a, errA := filepath.Abs(dir)
	b, errB := filepath.Abs(valueDir)
	if errA == nil && errB == nil && a == b {
		return []string{dir}
	}
	return []string{dir, valueDir}
}

// logFile is one log file found in a directory.
type logFile struct {
	path string
	fid  uint64
	size int64
}

// listLogs lists the regular files of kind k, oldest (lowest number)
// first. Names badger would not parse as a number are skipped: badger
// refuses to open those itself.
func listLogs(k logKind) ([]logFile, error) {
	entries, err := os.ReadDir(k.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", k.dir, err)
	}
	var logs []logFile
	for _, e := range entries {
		num, isLog := strings.CutSuffix(e.Name(), k.ext)
		fid, err := strconv.ParseUint(num, 10, 64)
		if !isLog || err != nil || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("reading size of %s: %w", e.Name(), err)
		}
		logs = append(logs, logFile{path: filepath.Join(k.dir, e.Name()), fid: fid, size: info.Size()})
	}
	// ReadDir sorts by name, not number: badger's names are zero-padded,
	// but a number can outgrow its padding.
	slices.SortFunc(logs, func(a, b logFile) int { return cmp.Compare(a.fid, b.fid) })
	return logs, nil
}

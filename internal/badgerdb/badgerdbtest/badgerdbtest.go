// Package badgerdbtest builds, for tests, the badger directories a crash
// leaves behind.
package badgerdbtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Log kinds InterruptCreate takes: badger's memtable logs and value logs.
const (
	MemLog   = ".mem"
	ValueLog = ".vlog"
)

// nameFormats are badger's file names by kind (v4.9.6 memtable.go
// mtFilePath, value.go vlogFilePath).
var nameFormats = map[string]string{MemLog: "%05d.mem", ValueLog: "%06d.vlog"}

// InterruptCreate leaves in the closed database dir the 0-byte log of kind
// (MemLog or ValueLog) that badger would create next, as a crash between
// badger creating the file and sizing it does, and returns its path.
// Badger numbers each new log one past the highest in the directory,
// starting at 1.
func InterruptCreate(t testing.TB, dir, kind string) string {
	t.Helper()
	format, ok := nameFormats[kind]
	if !ok {
		t.Fatalf("unknown badger log kind %q", kind)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var highest uint64
	for _, e := range entries {
		num, isLog := strings.CutSuffix(e.Name(), kind)
		if fid, err := strconv.ParseUint(num, 10, 64); isLog && err == nil {
			highest = max(highest, fid)
		}
	}
	path := filepath.Join(dir, fmt.Sprintf(format, highest+1))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

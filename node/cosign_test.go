package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/updates"
)

func TestCoSignStoreRefusesRollbackAndEquivocation(t *testing.T) {
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := newCosignStore(db)
	a, b := updates.Digest{1}, updates.Digest{2}
	if err := s.reserve("X", 2, a); err != nil {
		t.Fatal(err)
	}
	if err := s.done("X", 2, a); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version uint64
		digest  updates.Digest
		want    string
	}{
		{1, a, "rollback"},
		{2, b, "another payload"},
		{2, a, errAlreadyCoSigned.Error()},
	} {
		err := s.reserve("X", tc.version, tc.digest)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reserve(v%d) = %v, want %q", tc.version, err, tc.want)
		}
	}
	// A failed co-signing of version 3 restores version 2's record.
	if err := s.reserve("X", 3, b); err != nil {
		t.Fatal(err)
	}
	s.release("X", 3, b)
	if err := s.reserve("X", 1, a); err == nil || errors.Is(err, errAlreadyCoSigned) {
		t.Errorf("after a released reservation, version 1 = %v; want refused as a rollback below 2", err)
	}
}

// openCosignDB opens a badger database on disk in dir.
func openCosignDB(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// Version 1's artifact is slow to fetch; version 2 is reserved and
// co-signed meanwhile; then version 1 finishes. The record must still say
// version 2, or a conflicting second payload for version 2 would look new
// and be co-signed (equivocation), and version 1 would not be a rollback.
func TestCosignRecordNeverMovesBackwards(t *testing.T) {
	db := openCosignDB(t, t.TempDir())
	defer db.Close()
	s := newCosignStore(db)
	v1, v2, v2evil := updates.Digest{1}, updates.Digest{2}, updates.Digest{3}
	for _, step := range []func() error{
		func() error { return s.reserve("X", 1, v1) },
		func() error { return s.reserve("X", 2, v2) },
		func() error { return s.done("X", 2, v2) },
		func() error { return s.done("X", 1, v1) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	rec, ok, err := s.get("X")
	if err != nil || !ok || rec.Version != 2 || rec.Digest != v2 || !rec.Done {
		t.Fatalf("record %+v, %v, %v; want version 2 done", rec, ok, err)
	}
	for _, tc := range []struct {
		version uint64
		digest  updates.Digest
		want    string
	}{
		{2, v2evil, "another payload"},
		{1, v1, "rollback"},
	} {
		if err := s.reserve("X", tc.version, tc.digest); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reserve(v%d) = %v, want %q", tc.version, err, tc.want)
		}
	}
}

// A supernode crashes between reserving a version and co-signing it. After
// the restart the reservation must not block that version for good (the
// zone's effective quorum would shrink by one): the same payload can be
// co-signed, a conflicting one still cannot.
func TestCosignReservationSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	db := openCosignDB(t, dir)
	a, b := updates.Digest{1}, updates.Digest{2}
	s := newCosignStore(db)
	if err := s.reserve("X", 1, a); err != nil {
		t.Fatal(err)
	}
	if err := s.reserve("X", 1, a); !errors.Is(err, errAlreadyCoSigned) {
		t.Errorf("second reserve while co-signing = %v, want %v", err, errAlreadyCoSigned)
	}
	if err := db.Close(); err != nil { // the crash: done never ran
		t.Fatal(err)
	}
	db = openCosignDB(t, dir)
	defer db.Close()
	s = newCosignStore(db)
	if err := s.reserve("X", 1, b); err == nil || !strings.Contains(err.Error(), "another payload") {
		t.Errorf("conflicting payload after the crash = %v, want refused", err)
	}
	if err := s.reserve("X", 1, a); err != nil {
		t.Fatalf("the interrupted version after the restart = %v, want it reserved again", err)
	}
	if err := s.done("X", 1, a); err != nil {
		t.Fatal(err)
	}
	if err := s.reserve("X", 1, a); !errors.Is(err, errAlreadyCoSigned) {
		t.Errorf("reserve after done = %v, want %v", err, errAlreadyCoSigned)
	}
}

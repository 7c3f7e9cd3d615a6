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
	s := &cosignStore{db: db}
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

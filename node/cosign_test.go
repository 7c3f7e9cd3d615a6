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
	if err := s.reserve("X", 2, a, nil); err != nil {
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
		err := s.reserve("X", tc.version, tc.digest, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reserve(v%d) = %v, want %q", tc.version, err, tc.want)
		}
	}
	// A failed co-signing of version 3 restores version 2's record.
	if err := s.reserve("X", 3, b, nil); err != nil {
		t.Fatal(err)
	}
	s.release("X", 3, b)
	if err := s.reserve("X", 1, a, nil); err == nil || errors.Is(err, errAlreadyCoSigned) {
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
		func() error { return s.reserve("X", 1, v1, nil) },
		func() error { return s.reserve("X", 2, v2, nil) },
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
		if err := s.reserve("X", tc.version, tc.digest, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
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
	if err := s.reserve("X", 1, a, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.reserve("X", 1, a, nil); !errors.Is(err, errAlreadyCoSigned) {
		t.Errorf("second reserve while co-signing = %v, want %v", err, errAlreadyCoSigned)
	}
	if err := db.Close(); err != nil { // the crash: done never ran
		t.Fatal(err)
	}
	db = openCosignDB(t, dir)
	defer db.Close()
	s = newCosignStore(db)
	if err := s.reserve("X", 1, b, nil); err == nil || !strings.Contains(err.Error(), "another payload") {
		t.Errorf("conflicting payload after the crash = %v, want refused", err)
	}
	if err := s.reserve("X", 1, a, nil); err != nil {
		t.Fatalf("the interrupted version after the restart = %v, want it reserved again", err)
	}
	if err := s.done("X", 1, a); err != nil {
		t.Fatal(err)
	}
	if err := s.reserve("X", 1, a, nil); !errors.Is(err, errAlreadyCoSigned) {
		t.Errorf("reserve after done = %v, want %v", err, errAlreadyCoSigned)
	}
}

// A fake payload of a version (the publisher's key, a wrong artifact)
// whose check is still in flight must not make the real one refused: the
// real proposal is parked, and taken again once the check ends — then
// reserved if the fake failed its check (released), refused as an
// equivocation if the fake was co-signed (done). Without parking an honest
// supernode refused the real fix for good whenever the fake's check was
// slower than the real one's arrival (sim TestByzantine, once in CI: two
// co-signatures of three, the byzantine one not counted, no agent
// accepted).
func TestCosignParksOtherPayloadWhileChecking(t *testing.T) {
	fake, real := updates.Digest{6}, updates.Digest{7}
	proposal := &verifiedAnnouncement{}
	for _, tc := range []struct {
		name      string
		fakeEnds  func(s *cosignStore) error
		realAfter string // "" reserved, else the refusal's text
	}{
		{"fake fails its check", func(s *cosignStore) error { s.release("X", 1, fake); return nil }, ""},
		{"fake co-signed", func(s *cosignStore) error { return s.done("X", 1, fake) }, "another payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openCosignDB(t, t.TempDir())
			defer db.Close()
			s := newCosignStore(db)
			if err := s.reserve("X", 1, fake, nil); err != nil {
				t.Fatal(err)
			}
			if err := s.reserve("X", 1, real, proposal); !errors.Is(err, errOtherInFlight) {
				t.Fatalf("real payload while the fake is checked = %v, want errOtherInFlight", err)
			}
			if err := tc.fakeEnds(s); err != nil {
				t.Fatal(err)
			}
			if got := s.unpark("X", 1); got != proposal {
				t.Fatalf("unparked %v, want the real proposal", got)
			}
			if got := s.unpark("X", 1); got != nil {
				t.Errorf("unparked twice: %v", got)
			}
			err := s.reserve("X", 1, real, proposal)
			switch {
			case tc.realAfter == "" && err != nil:
				t.Errorf("real payload after the fake's check failed = %v, want reserved", err)
			case tc.realAfter != "" && (err == nil || !strings.Contains(err.Error(), tc.realAfter)):
				t.Errorf("real payload after the fake was co-signed = %v, want %q", err, tc.realAfter)
			}
		})
	}
}

// Only the newest payload of a version waits for the check under way: the
// one it displaces is named, so its publisher can be told it was dropped;
// the same payload parked again displaces nothing.
func TestCosignParkNamesDisplaced(t *testing.T) {
	first, second := updates.Digest{8}, updates.Digest{9}
	proposal := func(d updates.Digest) *verifiedAnnouncement {
		return &verifiedAnnouncement{Accepted: &updates.Accepted{Digest: d}}
	}
	db := openCosignDB(t, t.TempDir())
	defer db.Close()
	s := newCosignStore(db)
	if err := s.reserve("X", 1, updates.Digest{6}, nil); err != nil {
		t.Fatal(err)
	}
	a, b := proposal(first), proposal(second)
	steps := []struct {
		p    *verifiedAnnouncement
		want *verifiedAnnouncement
	}{{a, nil}, {a, nil}, {b, a}, {b, nil}}
	for i, st := range steps {
		err := s.reserve("X", 1, st.p.Accepted.Digest, st.p)
		if !errors.Is(err, errOtherInFlight) {
			t.Fatalf("step %d: reserve = %v, want errOtherInFlight", i, err)
		}
		if got := displacedBy(err); got != st.want {
			t.Errorf("step %d: displaced %v, want %v", i, got, st.want)
		}
	}
	if got := s.unpark("X", 1); got != b {
		t.Errorf("unparked %v, want the newest", got)
	}
}

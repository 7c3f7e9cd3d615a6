package updates

import (
	"errors"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/patchnet/patchnet/trust"
)

// seenStoreSuite runs every SeenStore implementation through the same checks.
func seenStoreSuite(t *testing.T, open func(t *testing.T) SeenStore) {
	t.Run("empty", func(t *testing.T) {
		s := open(t)
		if _, ok, err := s.Highest("X"); ok || err != nil {
			t.Fatalf("Highest on empty = %v, %v", ok, err)
		}
		if _, ok, err := s.Get("X", 1); ok || err != nil {
			t.Fatalf("Get on empty = %v, %v", ok, err)
		}
		if as, err := s.Alerts(); len(as) != 0 || err != nil {
			t.Fatalf("Alerts on empty = %v, %v", as, err)
		}
	})
	t.Run("put and highest", func(t *testing.T) {
		s := open(t)
		at := testNow.Round(0)
		recs := []SeenRecord{
			{ID: "A-1", Version: 3, Digest: Digest{3}, Signers: []string{"s1", "s2"}, At: at},
			{ID: "A-1", Version: 1, Digest: Digest{1}, At: at},
			{ID: "A-10", Version: 1 << 40, Digest: Digest{9}, At: at},
		}
		for _, r := range recs {
			if err := s.Put(r); err != nil {
				t.Fatal(err)
			}
		}
		if h, ok, _ := s.Highest("A-1"); !ok || h != 3 {
			t.Errorf("Highest(A-1) = %d, %v; want 3 (a lower Put must not lower it)", h, ok)
		}
		if h, ok, _ := s.Highest("A-10"); !ok || h != 1<<40 {
			t.Errorf("Highest(A-10) = %d, %v", h, ok)
		}
		got, ok, err := s.Get("A-1", 3)
		if !ok || err != nil {
			t.Fatalf("Get = %v, %v", ok, err)
		}
		if diff := cmp.Diff(recs[0], got); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}
		if _, ok, _ := s.Get("A-1", 2); ok {
			t.Error("Get of a version never put found something")
		}
	})
	t.Run("alerts", func(t *testing.T) {
		s := open(t)
		a1 := Alert{Kind: AlertEquivocation, ID: "B", Version: 2, At: testNow, First: AlertSide{Digest: Digest{1}, Signers: []string{"x"}}, Second: AlertSide{Digest: Digest{2}, Signers: []string{"y"}}}
		a2 := a1
		a2.ID, a2.Second.Digest = "A", Digest{3}
		a3 := a1
		a3.Second.Digest, a3.At = Digest{4}, testNow.Add(time.Minute)
		for _, a := range []Alert{a1, a2, a3} {
			if err := s.Quarantine(a); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Alerts()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]Alert{a2, a1, a3}, got); diff != "" {
			t.Errorf("Alerts (-want +got):\n%s", diff)
		}
	})
}

func TestMemorySeenStore(t *testing.T) {
	seenStoreSuite(t, func(t *testing.T) SeenStore { return NewMemorySeenStore() })
}

func TestBadgerSeenStore(t *testing.T) {
	seenStoreSuite(t, func(t *testing.T) SeenStore {
		db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return NewBadgerSeenStore(db)
	})
}

func TestBadgerSeenStoreSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	open := func() *badger.DB {
		db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	s := NewBadgerSeenStore(db)
	rec := SeenRecord{ID: "DSA-1", Version: 4, Digest: Digest{4}, Signers: []string{"a"}, At: testNow}
	if err := s.Put(rec); err != nil {
		t.Fatal(err)
	}
	alert := Alert{Kind: AlertEquivocation, ID: "DSA-1", Version: 4, At: testNow, Second: AlertSide{Digest: Digest{5}}}
	if err := s.Quarantine(alert); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open()
	defer db.Close()
	s = NewBadgerSeenStore(db)
	if h, ok, err := s.Highest("DSA-1"); !ok || h != 4 || err != nil {
		t.Fatalf("after reopening, Highest = %d, %v, %v", h, ok, err)
	}
	got, ok, _ := s.Get("DSA-1", 4)
	if !ok || got.Digest != rec.Digest {
		t.Fatalf("after reopening, Get = %+v, %v", got, ok)
	}
	if as, _ := s.Alerts(); len(as) != 1 || as[0].Second.Digest != alert.Second.Digest {
		t.Fatalf("after reopening, Alerts = %+v", as)
	}
}

// TestAcceptorWithBadgerRejectsRollbackAfterRestart: the rollback floor
// survives an agent restart.
func TestAcceptorWithBadgerRejectsRollbackAfterRestart(t *testing.T) {
	z := newZone(t, 2, 2)
	dir := t.TempDir()
	v1 := signed(t, z.announcement("DSA-9001-1", 1, "v1"), z.quorum(2)...)
	v2 := signed(t, z.announcement("DSA-9001-1", 2, "v2"), z.quorum(2)...)
	for i, env := range [][]byte{v2, v1} {
		db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		ac, err := NewAcceptor(z.verifier, z.acceptor.Policy(), NewBadgerSeenStore(db))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ac.Accept(env)
		db.Close()
		if i == 0 && err != nil {
			t.Fatal(err)
		}
		if i == 1 && !errors.Is(err, trust.ErrRollback) {
			t.Fatalf("version 1 after version 2 and a restart: %v, want ErrRollback", err)
		}
	}
}

package node

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/trust"
)

// memDB is an in-memory badger database, closed with the test.
func memDB(t *testing.T) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A supernode full of reported versions makes room for a new one by
// deleting the reports of the version reported on least recently, and
// keeps doing so across a restart: before, it refused every report of
// a new version for good once MaxReportedUpdates had been reported on.
func TestReportStoreEvictsLeastRecentlyReportedVersion(t *testing.T) {
	db := memDB(t)
	s, err := openReportStore(db)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	report := func(id string, version uint64, agent string, at time.Time) *receivedReport {
		return &receivedReport{InstallReport: InstallReport{Zone: "acme", ID: id, Version: version, Outcome: OutcomeInstalled, Time: at}, Agent: agent}
	}
	for i := range MaxReportedUpdates {
		// PNT-0 is reported on first, but again last of all.
		if _, err := s.add(report(fmt.Sprintf("PNT-%d", i), 1, "a1", t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if evicted, err := s.add(report("PNT-0", 1, "a2", t0.Add(time.Duration(MaxReportedUpdates)*time.Minute))); err != nil || evicted != nil {
		t.Fatalf("a report of a kept version: evicted %v, %v; want none", evicted, err)
	}
	evicted, err := s.add(report("PNT-NEW", 1, "a1", t0.Add(time.Duration(MaxReportedUpdates+1)*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&updateKey{"PNT-1", 1}, evicted, cmp.AllowUnexported(updateKey{})); diff != "" {
		t.Errorf("evicted (-want +got):\n%s", diff)
	}
	reopened, err := openReportStore(db)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := reopened.summaries()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, sum := range sums {
		got[sum.ID] = sum.Counts[OutcomeInstalled]
	}
	if len(sums) != MaxReportedUpdates || got["PNT-1"] != 0 || got["PNT-0"] != 2 || got["PNT-NEW"] != 1 {
		t.Errorf("after eviction: %d versions, PNT-0 %d, PNT-1 %d, PNT-NEW %d; want %d, 2, 0, 1",
			len(sums), got["PNT-0"], got["PNT-1"], got["PNT-NEW"], MaxReportedUpdates)
	}
	if evicted, err := reopened.add(report("PNT-NEWER", 1, "a1", t0.Add(time.Duration(MaxReportedUpdates+2)*time.Minute))); err != nil ||
		evicted == nil || *evicted != (updateKey{"PNT-2", 1}) {
		t.Errorf("after a restart: evicted %v, %v; want PNT-2 version 1", evicted, err)
	}
}

// One version's agents stay bounded: past MaxReportsPerUpdate a new
// agent's report is refused as oversized, while one already counted may
// replace its report.
func TestReportStoreBoundsAgentsPerVersion(t *testing.T) {
	s, err := openReportStore(memDB(t))
	if err != nil {
		t.Fatal(err)
	}
	r := func(agent string) *receivedReport {
		return &receivedReport{InstallReport: InstallReport{Zone: "acme", ID: "PNT-1", Version: 1, Outcome: OutcomeInstalled}, Agent: agent}
	}
	if _, err := s.add(r("a1")); err != nil {
		t.Fatal(err)
	}
	s.versions[updateKey{"PNT-1", 1}].n = MaxReportsPerUpdate // as if as many agents had reported
	if _, err := s.add(r("a2")); !errors.Is(err, trust.ErrOversized) {
		t.Errorf("a new agent's report past the limit: %v, want ErrOversized", err)
	}
	if _, err := s.add(r("a1")); err != nil {
		t.Errorf("a counted agent's new report: %v", err)
	}
}

package install

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/internal/badgerdb/badgerdbtest"
)

// TestBadgerStoreOpensAfterInterruptedCreate checks the journal (and so
// patchnet apply's seen versions, opened the same way) goes through
// badgerdb.Open: a crash between badger creating a log and sizing it must
// not leave the journal unopenable.
func TestBadgerStoreOpensAfterInterruptedCreate(t *testing.T) {
	for _, kind := range []string{badgerdbtest.MemLog, badgerdbtest.ValueLog} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenBadgerStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			tx := sampleTx(time.Now(), StateCommitted)
			if err := s.Put(tx); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			badgerdbtest.InterruptCreate(t, dir, kind)
			s, err = OpenBadgerStore(dir)
			if err != nil {
				t.Fatalf("opening the journal after a crash: %v", err)
			}
			defer s.Close()
			got, err := s.Get(tx.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tx, got); diff != "" {
				t.Errorf("after the crash (-want +got):\n%s", diff)
			}
		})
	}
}

package overlay

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/internal/badgerdb/badgerdbtest"
)

// TestBadgerStoreOpensAfterInterruptedCreate checks OpenBadgerStore goes
// through badgerdb.Open: a crash between badger creating a log and sizing
// it must not leave the store unopenable.
func TestBadgerStoreOpensAfterInterruptedCreate(t *testing.T) {
	for _, kind := range []string{badgerdbtest.MemLog, badgerdbtest.ValueLog} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenBadgerStore(dir, DefaultKeep())
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, KindAnnouncement, "a1")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			badgerdbtest.InterruptCreate(t, dir, kind)
			s, err = OpenBadgerStore(dir, DefaultKeep())
			if err != nil {
				t.Fatalf("opening the store after a crash: %v", err)
			}
			defer s.Close()
			got, err := s.Since(0, 10, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			want := []Item{{Seq: 1, Kind: KindAnnouncement, Data: []byte("a1")}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after the crash (-want +got):\n%s", diff)
			}
		})
	}
}

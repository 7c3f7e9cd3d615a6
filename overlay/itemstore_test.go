package overlay

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// storeMakers are every ItemStore implementation, run through one suite.
var storeMakers = map[string]func(t *testing.T, keep Keep) ItemStore{
	"memory": func(t *testing.T, keep Keep) ItemStore { return NewMemoryStore(keep) },
	"badger": func(t *testing.T, keep Keep) ItemStore {
		s, err := OpenBadgerStore(t.TempDir(), keep)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

func TestItemStore(t *testing.T) {
	for name, mk := range storeMakers {
		t.Run(name, func(t *testing.T) {
			t.Run("append and list", func(t *testing.T) { testAppendSince(t, mk(t, DefaultKeep())) })
			t.Run("dedupe", func(t *testing.T) { testDedupe(t, mk(t, DefaultKeep())) })
			t.Run("bounds", func(t *testing.T) { testSinceBounds(t, mk(t, DefaultKeep())) })
			t.Run("keep per kind", func(t *testing.T) { testKeep(t, mk(t, Keep{KindHeartbeat: 2})) })
			t.Run("bad input", func(t *testing.T) { testBadInput(t, mk(t, DefaultKeep())) })
			t.Run("epochs differ", func(t *testing.T) {
				if a, b := mk(t, nil).Epoch(), mk(t, nil).Epoch(); a == b || a == 0 {
					t.Errorf("two stores share epoch %d/%d", a, b)
				}
			})
		})
	}
}

func mustAppend(t *testing.T, s ItemStore, kind Kind, data string) uint64 {
	t.Helper()
	seq, err := s.Append(kind, []byte(data))
	if err != nil {
		t.Fatalf("Append(%s, %q): %v", kind, data, err)
	}
	return seq
}

func testAppendSince(t *testing.T, s ItemStore) {
	want := []Item{
		{Seq: 1, Kind: KindAnnouncement, Data: []byte("a1")},
		{Seq: 2, Kind: KindCRL, Data: []byte("crl")},
		{Seq: 3, Kind: KindHeartbeat, Data: []byte("hb")},
		{Seq: 4, Kind: KindPolicy, Data: []byte("policy")},
	}
	for _, it := range want {
		if seq := mustAppend(t, s, it.Kind, string(it.Data)); seq != it.Seq {
			t.Errorf("Append(%q) = seq %d, want %d", it.Data, seq, it.Seq)
		}
	}
	got, err := s.Since(0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Since(0) (-want +got):\n%s", d)
	}
	got, _ = s.Since(2, 100, 1<<20)
	if d := cmp.Diff(want[2:], got); d != "" {
		t.Errorf("Since(2) (-want +got):\n%s", d)
	}
	if got, _ := s.Since(4, 100, 1<<20); len(got) != 0 {
		t.Errorf("Since(head) = %v, want nothing", got)
	}
	if head, _ := s.Head(); head != 4 {
		t.Errorf("Head = %d, want 4", head)
	}
}

func testDedupe(t *testing.T, s ItemStore) {
	first := mustAppend(t, s, KindAnnouncement, "same")
	mustAppend(t, s, KindAnnouncement, "other")
	if again := mustAppend(t, s, KindAnnouncement, "same"); again != first {
		t.Errorf("identical data stored twice: seq %d then %d", first, again)
	}
	items, _ := s.Since(0, 100, 1<<20)
	if len(items) != 2 {
		t.Errorf("store holds %d items, want 2", len(items))
	}
	if has, err := s.Has(sha256.Sum256([]byte("same"))); !has || err != nil {
		t.Errorf("Has(stored) = %v, %v", has, err)
	}
	if has, _ := s.Has(sha256.Sum256([]byte("never"))); has {
		t.Error("Has(unknown) = true")
	}
}

func testSinceBounds(t *testing.T, s ItemStore) {
	for i := range 10 {
		mustAppend(t, s, KindAnnouncement, fmt.Sprintf("item-%02d", i)) // 7 bytes each
	}
	tests := []struct {
		maxItems, maxBytes, want int
	}{
		{3, 1 << 20, 3},
		{100, 21, 3},
		{100, 20, 2},
		{100, 1, 1}, // always at least one item
		{100, 1 << 20, 10},
	}
	for _, tt := range tests {
		got, err := s.Since(0, tt.maxItems, tt.maxBytes)
		if err != nil || len(got) != tt.want {
			t.Errorf("Since(0, %d, %d) = %d items, %v; want %d", tt.maxItems, tt.maxBytes, len(got), err, tt.want)
		}
	}
	if _, err := s.Since(0, 0, 10); err == nil {
		t.Error("Since with maxItems 0 succeeded")
	}
}

func testKeep(t *testing.T, s ItemStore) {
	mustAppend(t, s, KindHeartbeat, "hb1")
	mustAppend(t, s, KindAnnouncement, "a1")
	mustAppend(t, s, KindHeartbeat, "hb2")
	mustAppend(t, s, KindHeartbeat, "hb3")
	got, _ := s.Since(0, 100, 1<<20)
	var data []string
	for _, it := range got {
		data = append(data, string(it.Data))
	}
	if d := cmp.Diff([]string{"a1", "hb2", "hb3"}, data); d != "" {
		t.Errorf("after keeping 2 heartbeats (-want +got):\n%s", d)
	}
	if has, _ := s.Has(sha256.Sum256([]byte("hb1"))); has {
		t.Error("dropped item still reported by Has")
	}
	if seq := mustAppend(t, s, KindHeartbeat, "hb1"); seq != 5 {
		t.Errorf("re-appending a dropped item = seq %d, want a new seq 5", seq)
	}
}

func testBadInput(t *testing.T, s ItemStore) {
	for _, tt := range []struct {
		kind Kind
		data []byte
	}{
		{0, []byte("x")},
		{9, []byte("x")},
		{KindAnnouncement, nil},
		{KindAnnouncement, make([]byte, MaxItemBytes+1)},
	} {
		if _, err := s.Append(tt.kind, tt.data); err == nil {
			t.Errorf("Append(%v, %d bytes) succeeded", tt.kind, len(tt.data))
		}
	}
	if head, _ := s.Head(); head != 0 {
		t.Errorf("bad input advanced the head to %d", head)
	}
}

func TestBadgerStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBadgerStore(dir, Keep{KindHeartbeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, KindAnnouncement, "a1")
	mustAppend(t, s, KindHeartbeat, "hb1")
	mustAppend(t, s, KindHeartbeat, "hb2")
	epoch := s.Epoch()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBadgerStore(dir, Keep{KindHeartbeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Epoch() != epoch {
		t.Errorf("epoch changed across restart: %d → %d", epoch, s.Epoch())
	}
	if seq := mustAppend(t, s, KindHeartbeat, "hb3"); seq != 4 {
		t.Errorf("first append after restart = seq %d, want 4", seq)
	}
	got, _ := s.Since(0, 100, 1<<20)
	want := []Item{{Seq: 1, Kind: KindAnnouncement, Data: []byte("a1")}, {Seq: 4, Kind: KindHeartbeat, Data: []byte("hb3")}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after restart (-want +got):\n%s", d)
	}
}

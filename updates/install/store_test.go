package install

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// storeFactory opens a fresh Store.
type storeFactory func(t *testing.T) Store

// TestStores runs the one Store suite against every implementation.
func TestStores(t *testing.T) {
	impls := map[string]storeFactory{
		"memory": func(*testing.T) Store { return NewMemoryStore() },
		"badger": func(t *testing.T) Store {
			s, err := OpenBadgerStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range impls {
		t.Run(name, func(t *testing.T) { storeSuite(t, open) })
	}
}

func sampleTx(at time.Time, state State) *Transaction {
	tx := &Transaction{ID: newTxID(at), Kind: KindInstall, Root: "/",
		Plan:     Plan{AnnouncementID: "PNT-1", AnnouncementVersion: 2, Method: "dpkg"},
		Artifact: ArtifactRef{Name: "a.deb", Size: 3, SHA256: strings.Repeat("ab", 32), Path: "/state/a.deb"},
		Goal:     Goal{Package: "a", Version: "2"}, Before: Before{Kind: BeforeAbsent, Package: "a"},
		Tools: []ToolUse{{Path: "/usr/bin/dpkg", SHA256: strings.Repeat("cd", 32), Pinned: true}}}
	tx.step(StatePrepared, at, "")
	tx.step(state, at.Add(time.Second), "note")
	return tx
}

func storeSuite(t *testing.T, open storeFactory) {
	s := open(t)
	defer s.Close()
	base := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	var want []*Transaction
	for i := 2; i >= 0; i-- { // out of order: List must sort by id
		tx := sampleTx(base.Add(time.Duration(i)*time.Minute), StateCommitted)
		if err := s.Put(tx); err != nil {
			t.Fatal(err)
		}
		want = append([]*Transaction{tx}, want...)
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	want[1].RolledBackBy = want[2].ID
	want[1].step(StateCommitted, base, "replaced")
	if err := s.Put(want[1]); err != nil {
		t.Fatal(err)
	}
	one, err := s.Get(want[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1], one); diff != "" {
		t.Errorf("Get after replace (-want +got):\n%s", diff)
	}
	if _, err := s.Get("20260101-000000.000000-000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing id: %v, want ErrNotFound", err)
	}
}

func TestBadgerStoreSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBadgerStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	tx := sampleTx(time.Now(), StateInstalling)
	if err := s.Put(tx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenBadgerStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tx, got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
}

func TestCorruptJournalRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBadgerStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(sampleTx(time.Now(), StateCommitted))
	s.Close()
	manifest := filepath.Join(dir, "MANIFEST")
	garbage := []byte("this is not a badger manifest")
	if err := os.WriteFile(manifest, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	_, err = OpenBadgerStore(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %v, want one naming %s", err, dir)
	}
	after, _ := os.ReadDir(dir)
	if len(after) < len(before) {
		t.Errorf("files were deleted: %d before, %d after", len(before), len(after))
	}
	if b, _ := os.ReadFile(manifest); string(b) != string(garbage) {
		t.Errorf("the corrupt manifest was rewritten")
	}
}

func TestCorruptRecordRefused(t *testing.T) {
	for name, raw := range map[string]string{
		"not json":      "{",
		"unknown field": `{"id":"20260101-000000.000000-000000","state":"committed","surprise":1}`,
		"bad id":        `{"id":"../../etc","state":"committed"}`,
		"no state":      `{"id":"20260101-000000.000000-000000"}`,
	} {
		if _, err := decodeTransaction([]byte(raw)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestJournalLockedByAnotherManager(t *testing.T) {
	state := t.TempDir()
	openTestManager(t, state, t.TempDir(), nil)
	cfg := DefaultConfig(state)
	_, _, err := Open(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(state, "journal")) {
		t.Errorf("second Open: %v, want an error naming the journal", err)
	}
}

// TestJournalRecordFitsHostileLog: tool output that JSON escaping blows up
// (invalid UTF-8, control bytes, '<') must not push a record past
// MaxTransactionBytes: the step is journalled, the log's tail kept.
func TestJournalRecordFitsHostileLog(t *testing.T) {
	const last = "LAST LINE OF THE LOG"
	cases := map[string][]byte{
		"invalid UTF-8":   bytes.Repeat([]byte{0xff}, MaxTransactionLog),
		"control bytes":   bytes.Repeat([]byte{0x01}, MaxTransactionLog),
		"HTML characters": bytes.Repeat([]byte("<&>"), MaxTransactionLog/3),
		"line separators": bytes.Repeat([]byte("\u2028"), MaxTransactionLog/3),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			for _, s := range []Store{NewMemoryStore(), openBadgerForTest(t)} {
				// Straight into the record, as an old journal could hold it.
				tx := sampleTx(timeZero(), StateInstalling)
				tx.Log = string(raw) + string(raw) + last
				if err := s.Put(tx); err != nil {
					t.Fatalf("%T.Put: %v", s, err)
				}
				got, err := s.Get(tx.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(got.Log, last) || !utf8.ValidString(got.Log) {
					t.Errorf("%T kept a log of %d bytes ending %q", s, len(got.Log), got.Log[max(0, len(got.Log)-40):])
				}
				// Through the runner's log, as tool output arrives.
				var l boundedLog
				l.write(raw)
				tx.Log = l.String()
				if b, err := encodeTransaction(tx); err != nil || len(b) > MaxTransactionBytes {
					t.Fatalf("encoding a bounded log: %d bytes, %v", len(b), err)
				}
			}
		})
	}
}

// openBadgerForTest opens a badger journal in a temp directory.
func openBadgerForTest(t *testing.T) Store {
	t.Helper()
	s, err := OpenBadgerStore(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

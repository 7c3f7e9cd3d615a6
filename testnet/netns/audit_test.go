package netns

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/updates/install"
)

// installTx is a committed install transaction of update id with an
// artifact of digest sum.
func installTx(txID, id, sum string) *install.Transaction {
	return &install.Transaction{ID: txID, Kind: install.KindInstall, State: install.StateCommitted,
		Plan:     install.Plan{AnnouncementID: id, AnnouncementVersion: 1, Method: "dpkg"},
		Artifact: install.ArtifactRef{Name: "fix.deb", Size: 1, SHA256: sum},
		Steps:    []install.Step{{State: install.StatePrepared, At: time.Unix(1, 0)}}}
}

func TestWrongInstall(t *testing.T) {
	fix, other := strings.Repeat("a", 64), strings.Repeat("b", 64)
	rel := []release{{propID, fix}}
	rollback := installTx("r", "", "")
	rollback.Kind = install.KindRollback
	failed := installTx("f", stolenID, fix)
	failed.State = install.StateFailed
	for _, tc := range []struct {
		name string
		txs  []*install.Transaction
		want string // the wrong transaction's id
	}{
		{"no transactions", nil, ""},
		{"the release", []*install.Transaction{installTx("t1", propID, fix)}, ""},
		{"its id, another artifact", []*install.Transaction{installTx("t1", propID, fix), installTx("t2", propID, other)}, "t2"},
		{"another id, its artifact", []*install.Transaction{installTx("t1", stolenID, fix)}, "t1"},
		{"a failed install counts", []*install.Transaction{failed}, "f"},
		{"a rollback installs nothing new", []*install.Transaction{rollback}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if tx := wrongInstall(tc.txs, rel); tx != nil {
				got = tx.ID
			}
			if got != tc.want {
				t.Errorf("wrong install %q, want %q", got, tc.want)
			}
		})
	}
}

// The audit reads each agent's real journal through `patchnet history`:
// one agent installed the release, one something else, one nothing.
func TestAuditReadsEveryJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin, err := zonekit.Binary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{kit: &zonekit.Kit{Bin: bin, Dir: dir}, agents: []string{"a1", "a2", "a3"}}
	fix := writeFile(t, dir, "fix.deb", "the fix")
	if err := c.released(propID, fix); err != nil {
		t.Fatal(err)
	}
	digest, _, err := nodelab.DigestFile(fix)
	if err != nil {
		t.Fatal(err)
	}
	sum := hex.EncodeToString(digest[:])
	const t1, t2 = "20261207-030000.000000-aaaaaa", "20261207-030100.000000-bbbbbb"
	journal(t, c.kit.Path("a1", "journal"), installTx(t1, propID, sum))
	journal(t, c.kit.Path("a2", "journal"), installTx(t1, propID, sum), installTx(t2, stolenID, sum))
	rep := &testnet.Report{Checks: map[string]bool{}, Samples: []testnet.Sample{{Node: "a1"}, {Node: "a2"}}}
	if err := c.checkInstalls(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if rep.WrongInstalls != 1 || rep.Checks[checkNoWrongInstalls] {
		t.Errorf("wrong installs %d, check %v: want 1, false", rep.WrongInstalls, rep.Checks[checkNoWrongInstalls])
	}
	want := []testnet.Sample{{Node: "a1"}, {Node: "a2", Wrong: true,
		WrongInstall: "transaction " + t2 + " installed " + stolenID + " version 1, artifact " + sum}}
	if diff := cmp.Diff(want, rep.Samples); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	// A second zone's audit into the same report cannot clear the check.
	clean := &cluster{kit: c.kit, agents: []string{"a1"}, releases: c.releases}
	if err := clean.checkInstalls(ctx, rep); err != nil || rep.Checks[checkNoWrongInstalls] {
		t.Errorf("after a clean second audit: check %v, err %v; want false, nil", rep.Checks[checkNoWrongInstalls], err)
	}
}

// journal writes txs into a badger journal at dir.
func journal(t *testing.T, dir string, txs ...*install.Transaction) {
	t.Helper()
	store, err := install.OpenBadgerStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, tx := range txs {
		if err := store.Put(tx); err != nil {
			t.Fatal(err)
		}
	}
}

// writeFile writes content to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

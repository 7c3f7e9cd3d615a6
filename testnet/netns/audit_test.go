package netns

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
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
	if rep.WrongInstalls != 1 || rep.Checks[testnet.CheckNoWrongInstalls] {
		t.Errorf("wrong installs %d, check %v: want 1, false", rep.WrongInstalls, rep.Checks[testnet.CheckNoWrongInstalls])
	}
	want := []testnet.Sample{{Node: "a1"}, {Node: "a2", Wrong: true,
		WrongInstall: "transaction " + t2 + " installed " + stolenID + " version 1, artifact " + sum}}
	if diff := cmp.Diff(want, rep.Samples); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	// A second zone's audit into the same report cannot clear the check.
	clean := &cluster{kit: c.kit, agents: []string{"a1"}, releases: c.releases}
	if err := clean.checkInstalls(ctx, rep); err != nil || rep.Checks[testnet.CheckNoWrongInstalls] {
		t.Errorf("after a clean second audit: check %v, err %v; want false, nil", rep.Checks[testnet.CheckNoWrongInstalls], err)
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

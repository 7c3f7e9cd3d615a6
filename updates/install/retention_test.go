package install

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// keepLast sets the retention policy of a test manager.
func keepLast(n int, maxBytes int64) func(*Config) {
	return func(c *Config) { c.Retention = Retention{KeepLast: n, MaxBytes: maxBytes} }
}

// beforeStatuses is each transaction's BeforeStatus by id, re-read from
// the journal.
func beforeStatuses(t *testing.T, tm *testManager, txs ...*Transaction) []string {
	t.Helper()
	var out []string
	for _, tx := range txs {
		got, err := tm.Get(tx.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got.BeforeStatus())
	}
	return out
}

// pruneRecords lists the journal's prune records.
func pruneRecords(t *testing.T, tm *testManager) []*Transaction {
	t.Helper()
	txs, err := tm.History()
	if err != nil {
		t.Fatal(err)
	}
	var out []*Transaction
	for _, tx := range txs {
		if tx.Kind == KindPrune {
			out = append(out, tx)
		}
	}
	return out
}

// requirePrunedRollback rolls tx back and requires the refusal to name
// the pruning and want.
func requirePrunedRollback(t *testing.T, tm *testManager, tx *Transaction, want string) {
	t.Helper()
	got, _ := tm.Get(tx.ID)
	_, err := tm.Rollback(context.Background(), tx.ID)
	if !errors.Is(err, ErrPruned) || !errors.Is(err, ErrNotRollbackable) {
		t.Fatalf("rollback of pruned %s: %v, want ErrPruned", tx.ID, err)
	}
	for _, w := range []string{"retention", got.PrunedBy, want} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("rollback refusal %q does not say %q", err, w)
		}
	}
}

// TestRetentionKeepsLastPerTarget: real dpkg upgrades 1.0 → 4.0 with
// keep_last 2 keep the before-states of the last two only; another
// package's single install is its own target and stays; the pruned
// upgrade's rollback is refused naming the prune record, the kept ones
// roll back.
func TestRetentionKeepsLastPerTarget(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	tm := newTestManager(t, root, keepLast(2, 0))
	other := tm.mustInstall(t, buildDeb(t, pkgSpec{name: "pn-other", version: "1.0",
		files: map[string]string{"opt/pn-other/msg": "other\n"}}), Plan{Method: "dpkg"})
	var txs []*Transaction
	for _, v := range []string{"1.0", "2.0", "3.0", "4.0"} {
		txs = append(txs, tm.mustInstall(t, helloDeb(t, v, ""), Plan{Method: "dpkg"}))
	}
	if diff := cmp.Diff([]string{"kept", "pruned", "kept", "kept"}, beforeStatuses(t, tm, txs...)); diff != "" {
		t.Errorf("before-states (-want +got):\n%s", diff)
	}
	if got := beforeStatuses(t, tm, other); got[0] != "kept" {
		t.Errorf("another package's only install: before-state %s, want kept", got[0])
	}
	for path, want := range map[string]bool{
		filepath.Join(tm.state, "keep", txs[1].ID):                   false, // 2.0's before-state (1.0)
		filepath.Join(tm.state, "packages/dpkg/pn-hello_1.0"):        false,
		filepath.Join(tm.state, "packages/dpkg/pn-hello_2.0"):        false,
		txs[0].Artifact.Path:                                         false,
		filepath.Join(tm.state, "keep", txs[2].ID):                   true, // 3.0's before-state (2.0)
		filepath.Join(tm.state, "packages/dpkg/pn-hello_4.0"):        true, // the next upgrade's before-state
		filepath.Join(tm.state, "packages/dpkg/pn-other_1.0"):        true,
		filepath.Join(tm.state, "packages/dpkg/pn-hello_3.0"):        true,
		txs[3].Artifact.Path:                                         true,
		filepath.Join(tm.state, "packages/dpkg/pn-hello_4.0.sha256"): true,
	} {
		if exists(path) != want {
			t.Errorf("%s exists = %v, want %v", path, !want, want)
		}
	}
	recs := pruneRecords(t, tm)
	if len(recs) == 0 {
		t.Fatal("no prune record journalled")
	}
	for _, rec := range recs {
		if rec.State != StateCommitted || len(rec.Pruned) == 0 {
			t.Errorf("prune record %s: %s with %d files", rec.ID, rec.State, len(rec.Pruned))
		}
		for _, f := range rec.Pruned {
			if f.Why == "" || f.What == "" || f.Error != "" || exists(f.Path) {
				t.Errorf("prune record %s lists %+v", rec.ID, f)
			}
		}
	}
	if again, err := tm.Prune(); err != nil || len(again) != 0 {
		t.Errorf("running the policy again pruned %d more (%v), want nothing", len(again), err)
	}
	requirePrunedRollback(t, tm, txs[1], "keep_last 2")
	for i, want := range []string{"installed 3.0", "installed 2.0"} {
		if _, err := tm.Rollback(context.Background(), txs[3-i].ID); err != nil {
			t.Fatalf("rollback of kept %s: %v", txs[3-i].ID, err)
		}
		if got := dpkgState(t, root, "pn-hello"); got != want {
			t.Errorf("after rolling back %s dpkg says %q, want %q", txs[3-i].ID, got, want)
		}
	}
}

// archiveVersion is a tar.gz whose tree holds size bytes (zeros: the
// artifact stays small, the unpacked tree does not).
func archiveVersion(t *testing.T, v string, size int) string {
	return writeTarGz(t, "app-"+v+".tar.gz", []entry{{name: "v", body: v}, {name: "data", body: strings.Repeat("\x00", size)}})
}

// TestRetentionMaxBytes: replaced archive trees are pruned oldest first
// once kept files pass max_bytes, down to what fits; the newest
// transaction's tree stays even when it alone is over.
func TestRetentionMaxBytes(t *testing.T) {
	t.Parallel()
	const tree = 100 << 10
	cases := []struct {
		name     string
		maxBytes int64
		want     []string
	}{
		{"fits two trees", 250 << 10, []string{"kept", "kept", "kept"}},
		{"fits one tree", 150 << 10, []string{"kept", "pruned", "kept"}},
		{"fits nothing", 1, []string{"kept", "pruned", "kept"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			tm := newTestManager(t, root, keepLast(10, c.maxBytes))
			plan := Plan{Method: "archive", Prefix: "/opt/app"}
			var txs []*Transaction
			for _, v := range []string{"1", "2", "3"} {
				txs = append(txs, tm.mustInstall(t, archiveVersion(t, v, tree), plan))
			}
			if diff := cmp.Diff(c.want, beforeStatuses(t, tm, txs...)); diff != "" {
				t.Errorf("before-states (-want +got):\n%s", diff)
			}
			if !exists(txs[2].Before.Path) {
				t.Errorf("the newest install's replaced tree %s was pruned", txs[2].Before.Path)
			}
			if c.want[1] == "pruned" {
				if exists(txs[1].Before.Path) {
					t.Errorf("pruned tree %s is still there", txs[1].Before.Path)
				}
				requirePrunedRollback(t, tm, txs[1], "max_bytes")
			}
			if _, err := tm.Rollback(context.Background(), txs[2].ID); err != nil {
				t.Fatalf("rollback of the newest install: %v", err)
			}
			if got := readFile(t, filepath.Join(root, "opt/app/v")); got != "2" {
				t.Errorf("after rolling back the newest install the prefix holds %q, want 2", got)
			}
		})
	}
}

// TestRetentionValidate: keep_last 0 is refused (it would delete what
// undoes the newest install), as are out-of-range bytes.
func TestRetentionValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		r    Retention
		want string
	}{
		{Retention{KeepLast: 3, MaxBytes: 2 << 30}, ""},
		{Retention{KeepLast: 1, MaxBytes: 0}, ""},
		{Retention{KeepLast: 0}, "retention.keep_last 0"},
		{Retention{KeepLast: MaxKeepLast + 1}, "retention.keep_last"},
		{Retention{KeepLast: 3, MaxBytes: -1}, "retention.max_bytes -1"},
		{Retention{KeepLast: 3, DownloadDirs: []string{"/"}}, `download directory "/"`},
		{Retention{KeepLast: 3, DownloadDirs: []string{"state/incoming"}}, ""},
	}
	for _, c := range cases {
		err := c.r.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", c.r, err, c.want)
		}
	}
}

// TestPruneCrashFinishedAtOpen: a prune stopped after its record was
// journalled, or after the first deletion, is finished by the next Open:
// every listed file goes, the record commits, and the pruned
// transaction's rollback is refused.
func TestPruneCrashFinishedAtOpen(t *testing.T) {
	t.Parallel()
	v1, v2, v3 := helloDeb(t, "1.0", ""), helloDeb(t, "2.0", ""), helloDeb(t, "3.0", "")
	for _, point := range []string{pointPruneListed, pointPruneDeleting} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			root, state := newDpkgRoot(t), t.TempDir()
			tm := openTestManager(t, state, root, keepLast(1, 0))
			tm.mustInstall(t, v1, Plan{Method: "dpkg"})
			tx2 := tm.mustInstall(t, v2, Plan{Method: "dpkg"})
			tm.crashHook = func(p string) bool { return p == point }
			tm.mustInstall(t, v3, Plan{Method: "dpkg"})
			recs := pruneRecords(t, tm)
			if len(recs) == 0 || recs[len(recs)-1].State != StatePrepared {
				t.Fatalf("after the crash the last prune record is not left prepared: %d records", len(recs))
			}
			rec := recs[len(recs)-1]
			left := 0
			for _, f := range rec.Pruned {
				if exists(f.Path) {
					left++
				}
			}
			if left == 0 {
				t.Fatalf("the crash at %s left none of the %d listed files", point, len(rec.Pruned))
			}
			tm.Close()

			after := openTestManager(t, state, root, keepLast(1, 0))
			got, err := after.Get(rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != StateCommitted || !got.Recovered {
				t.Errorf("after Open the prune record is %s (recovered %v), want committed by recovery", got.State, got.Recovered)
			}
			for _, f := range got.Pruned {
				if exists(f.Path) || f.Error != "" {
					t.Errorf("listed file %s: exists %v, error %q", f.Path, exists(f.Path), f.Error)
				}
			}
			requirePrunedRollback(t, after, tx2, "keep_last 1")
			if got := dpkgState(t, root, "pn-hello"); got != "installed 3.0" {
				t.Errorf("dpkg says %q, want installed 3.0", got)
			}
		})
	}
}

// TestPruneRefusesPathsOutsideState: a prune record naming a path that is
// not one retention keeps (a damaged journal) deletes nothing there.
func TestPruneRefusesPathsOutsideState(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	victim := filepath.Join(t.TempDir(), "precious")
	writeFile(t, victim, "keep me")
	tm := openTestManager(t, state, t.TempDir(), nil)
	rec := &Transaction{ID: newTxID(tm.cfg.Now()), Kind: KindPrune, Root: "/", State: StatePrepared,
		Pruned: []PrunedFile{
			{Path: victim, What: WhatArtifact, Why: "test"},
			{Path: filepath.Join(state, "keep", "..", "..", filepath.Base(victim)), What: WhatLogs, Why: "test"},
			{Path: victim, What: WhatTree, Of: "20260101-000000.000000-abcdef", Why: "test"},
		}}
	if err := tm.store.Put(rec); err != nil {
		t.Fatal(err)
	}
	tm.Close()
	after := openTestManager(t, state, t.TempDir(), nil)
	if got := readFile(t, victim); got != "keep me" {
		t.Fatalf("a prune record deleted %s outside the state directory", victim)
	}
	got, err := after.Get(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got.Pruned {
		if !strings.Contains(f.Error, "refusing to delete") {
			t.Errorf("%s: error %q, want a refusal", f.Path, f.Error)
		}
	}
}

// TestRetentionLeavesFreshArtifact: an artifact verified for an install
// about to start is not pruned, even when it is the same file as a pruned
// transaction's artifact.
func TestRetentionLeavesFreshArtifact(t *testing.T) {
	t.Parallel()
	root := newDpkgRoot(t)
	tm := newTestManager(t, root, keepLast(1, 0))
	v1 := helloDeb(t, "1.0", "")
	tx1 := tm.mustInstall(t, v1, Plan{Method: "dpkg"})
	tm.mustInstall(t, helloDeb(t, "2.0", ""), Plan{Method: "dpkg"})
	if exists(tx1.Artifact.Path) {
		t.Fatalf("keep_last 1 kept the first install's artifact %s", tx1.Artifact.Path)
	}
	art, err := tm.VerifyArtifact(v1, expectOf(t, v1)) // the same path again
	if err != nil {
		t.Fatal(err)
	}
	tm.mustInstall(t, helloDeb(t, "3.0", ""), Plan{Method: "dpkg"}) // prunes 2.0's files
	tx, err := tm.InstallVerified(context.Background(), art, Plan{Method: "dpkg", AnnouncementID: "PNT-TEST-DOWN"})
	if err != nil {
		t.Fatalf("installing the verified artifact after a prune: %v\n%s", err, tx.Log)
	}
	if got := dpkgState(t, root, "pn-hello"); got != "installed 1.0" {
		t.Errorf("dpkg says %q, want installed 1.0", got)
	}
}

// TestRetentionStartupPrunesUnusedAndDownloads: at Open, an artifact no
// transaction installed and a download whose artifact is installed go;
// a download of an artifact not installed stays.
func TestRetentionStartupPrunesUnusedAndDownloads(t *testing.T) {
	t.Parallel()
	root, state := newDpkgRoot(t), t.TempDir()
	downloads := filepath.Join(state, "downloads")
	cfg := func(c *Config) { c.Retention.DownloadDirs = []string{downloads} }
	tm := openTestManager(t, state, root, cfg)
	v1, v2 := helloDeb(t, "1.0", ""), helloDeb(t, "2.0", "")
	tx := tm.mustInstall(t, v1, Plan{Method: "dpkg"})
	unused, err := tm.VerifyArtifact(v2, expectOf(t, v2))
	if err != nil {
		t.Fatal(err)
	}
	installedDL := filepath.Join(downloads, tx.Artifact.SHA256+"-pn-hello_1.0_all.deb")
	otherDL := filepath.Join(downloads, unused.Digest()+"-pn-hello_2.0_all.deb")
	writeFile(t, installedDL, "x")
	writeFile(t, otherDL, "y")
	tm.Close()
	openTestManager(t, state, root, cfg)
	for path, want := range map[string]bool{unused.Path(): false, installedDL: false, otherDL: true, tx.Artifact.Path: true} {
		if exists(path) != want {
			t.Errorf("%s exists = %v, want %v", path, !want, want)
		}
	}
}

func TestBytesText(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 2 << 30: "2.0 GiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRetentionRelativeStateDir: with a state directory given relative to
// the working directory (apply --state state), the journal records
// absolute paths and pruning finds and deletes them.
func TestRetentionRelativeStateDir(t *testing.T) {
	t.Chdir(t.TempDir())
	root := t.TempDir()
	tm := openTestManager(t, "state", root, keepLast(1, 0))
	plan := Plan{Method: "archive", Prefix: "/opt/app"}
	var txs []*Transaction
	for _, v := range []string{"1", "2", "3"} {
		txs = append(txs, tm.mustInstall(t, archiveVersion(t, v, 10), plan))
	}
	if !filepath.IsAbs(txs[0].Artifact.Path) {
		t.Errorf("journalled artifact path %q is relative", txs[0].Artifact.Path)
	}
	if diff := cmp.Diff([]string{"kept", "pruned", "kept"}, beforeStatuses(t, tm, txs...)); diff != "" {
		t.Errorf("before-states (-want +got):\n%s", diff)
	}
	for _, p := range []string{txs[0].Artifact.Path, txs[1].Before.Path} {
		if exists(p) {
			t.Errorf("%s was not pruned", p)
		}
	}
}

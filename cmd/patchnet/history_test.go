package main

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/updates/install"
)

func TestHistoryWithoutJournal(t *testing.T) {
	state := t.TempDir()
	out, err := runCommand(t, newHistoryCmd(), "--state", state)
	if err != nil || !strings.Contains(out, "no transactions: no journal at") {
		t.Errorf("history of an empty state dir: %v\n%s", err, out)
	}
}

func TestHistoryRefusesUnknownFormat(t *testing.T) {
	_, err := runCommand(t, newHistoryCmd(), "--state", t.TempDir(), "--format", "xml")
	if err == nil || !strings.Contains(err.Error(), `--format "xml"`) {
		t.Errorf("history --format xml: %v", err)
	}
}

// pruneWorld is an apply world where keep_last 1 pruned the 1.0 → 2.0
// upgrade's before-state when 3.0 was installed; it returns the 2.0 and
// 3.0 transactions.
func pruneWorld(t *testing.T) (*applyWorld, *install.Transaction, *install.Transaction) {
	t.Helper()
	w := newApplyWorld(t) // pn-hello 1.0 installed by patchnet
	cfg := install.DefaultConfig(w.state)
	cfg.Root = w.root
	cfg.Retention.KeepLast = 1
	m, _, err := install.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var txs []*install.Transaction
	for _, v := range []string{"2.0", "3.0"} {
		deb := buildTestDeb(t, "pn-hello", v)
		b, _ := os.ReadFile(deb)
		art, err := m.VerifyArtifact(deb, install.Expect{Name: filepath.Base(deb), Size: int64(len(b)), SHA256: sha256.Sum256(b)})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := m.InstallVerified(context.Background(), art, install.Plan{Method: "dpkg", AnnouncementID: "PNT-2026-0002", AnnouncementVersion: uint64(len(txs) + 1)})
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	return w, txs[0], txs[1]
}

// historyRow is the table line of transaction id, split in cells.
func historyRow(t *testing.T, table, id string) string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, id) {
			return line
		}
	}
	t.Fatalf("history has no line for %s:\n%s", id, table)
	return ""
}

// history shows each install's before-state as kept or pruned and each
// prune record with its reason, offline and through a running agent; the
// pruned install's rollback is refused naming the record.
func TestHistoryShowsPrunedBeforeStates(t *testing.T) {
	w, pruned, kept := pruneWorld(t)
	table, err := runCommand(t, newHistoryCmd(), "--state", w.state)
	if err != nil {
		t.Fatalf("history: %v\n%s", err, table)
	}
	if !strings.Contains(table, "BEFORE") {
		t.Errorf("history has no BEFORE column:\n%s", table)
	}
	var rec *install.Transaction
	for _, tx := range w.historyJSON(t) {
		if tx.ID == pruned.ID {
			if tx.PrunedBy == "" {
				t.Fatalf("%s is not marked pruned: %+v", tx.ID, tx)
			}
			rec = &install.Transaction{ID: tx.PrunedBy}
		}
	}
	row := historyRow(t, table, pruned.ID)
	for _, want := range []string{" pruned ", "before-state pruned by " + rec.ID} {
		if !strings.Contains(row, want) {
			t.Errorf("the pruned install's line lacks %q:\n%s", want, row)
		}
	}
	if row := historyRow(t, table, kept.ID); !strings.Contains(row, " kept ") {
		t.Errorf("the newest install's line does not say kept:\n%s", row)
	}
	recRow := historyRow(t, table, rec.ID)
	for _, want := range []string{" prune ", "committed", "pruned ", "freed", "keep_last 1"} {
		if !strings.Contains(recRow, want) {
			t.Errorf("the prune record's line lacks %q:\n%s", want, recRow)
		}
	}
	_, err = runCommand(t, newRollbackCmd(), pruned.ID, "--state", w.state)
	if err == nil || !strings.Contains(err.Error(), "retention") || !strings.Contains(err.Error(), rec.ID) {
		t.Errorf("rollback of the pruned install: %v, want a refusal naming the pruning by %s", err, rec.ID)
	}
	startAgentOn(t, w)
	through, err := runCommand(t, newHistoryCmd(), "--state", w.state)
	if err != nil || through != table {
		t.Errorf("history through the agent (%v):\n%s\noffline:\n%s", err, through, table)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRollbackRefusesBadInput(t *testing.T) {
	w := newApplyWorld(t) // a journal holding one install
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"not an id", []string{"../../etc", "--state", w.state}, "transaction id"},
		{"no journal", []string{"20261126-071500.123456-ab12cd", "--state", t.TempDir()}, "no journal at"},
		{"no such transaction", []string{"20200101-000000.000000-000000", "--state", w.state}, "no such transaction"},
	}
	for _, c := range cases {
		_, err := runCommand(t, newRollbackCmd(), c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	if got := w.version(t); got != "1.0/hello 1.0" {
		t.Errorf("host changed: %s", got)
	}
}

func TestRollbackRefusesWhileLaterInstallStands(t *testing.T) {
	w := newApplyWorld(t) // pn-hello 1.0 installed by patchnet
	first := w.historyJSON(t)[0]
	if out, err := w.apply(t, w.envelope(t, w.announcement(t, 1))); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	txs := w.historyJSON(t)
	later := txs[len(txs)-1]
	_, err := runCommand(t, newRollbackCmd(), first.ID, "--state", w.state)
	if err == nil || !strings.Contains(err.Error(), "roll back "+later.ID+" first") {
		t.Fatalf("rollback of the older install: %v, want a refusal naming %s", err, later.ID)
	}
	if got := w.version(t); got != "2.0/hello 2.0" {
		t.Errorf("host changed by a refused rollback: %s", got)
	}
	for _, id := range []string{later.ID, first.ID} {
		if out, err := runCommand(t, newRollbackCmd(), id, "--state", w.state); err != nil {
			t.Fatalf("rollback %s: %v\n%s", id, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(w.root, "opt/pn-hello/msg")); !os.IsNotExist(err) {
		t.Errorf("after rolling both back pn-hello's file is still there: %v", err)
	}
}

package main

import (
	"strings"
	"testing"
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

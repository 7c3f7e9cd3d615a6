package main

import (
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

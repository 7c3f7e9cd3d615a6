package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestStageBars drives the progress display as a runner does, including
// from a stage that never completes and a report after the run ended.
func TestStageBars(t *testing.T) {
	for _, live := range []bool{false, true} {
		var buf bytes.Buffer
		s := newStageBarsLive(&buf, live)
		for i := range 11 {
			s.update("starting", i, 10)
		}
		for i := range 8 {
			s.update("installed", i, 10)
		}
		s.finish()
		s.update("installed", 10, 10) // late: dropped, must not block or panic
		out := buf.String()
		want := []string{"starting: 0/10\n", "starting: 10/10\n", "installed: 0/10\n", "installed: 7/10 when the run ended\n"}
		if live {
			// mpb's last frame holds each bar at its final count.
			want = []string{"starting", "10/10", "installed", "7/10"}
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("live %v: output lacks %q:\n%q", live, w, out)
			}
		}
	}
}

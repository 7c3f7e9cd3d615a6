package sim

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// medianRound reports the round whose last delivery is the median; a
// round that missed an agent counts as the slowest of all.
func TestMedianRound(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name   string
		rounds [][]time.Duration
		want   []time.Duration
	}{
		{"middle of three", [][]time.Duration{{1 * s, 3 * s}, {1 * s, 1 * s}, {2 * s, 2 * s}}, []time.Duration{2 * s, 2 * s}},
		{"a round short of an agent is slowest", [][]time.Duration{{9 * s}, {1 * s, 5 * s}, {1 * s, 4 * s}}, []time.Duration{1 * s, 5 * s}},
		{"one round", [][]time.Duration{{1 * s, 2 * s}}, []time.Duration{1 * s, 2 * s}},
		{"no agents", [][]time.Duration{{}, {}, {}}, []time.Duration{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agents := 2
			if len(tc.want) == 0 {
				agents = 0
			}
			if diff := cmp.Diff(tc.want, medianRound(tc.rounds, agents)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A raw round that stops delivering ends rawRoundQuiet after its last
// delivery with what it delivered, not at its timeout: raw gossipsub has
// no catch-up. One that delivers to everyone ends at once.
func TestRawRoundEndsWhenQuiet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delivered int
		want      time.Duration // how long waitRaw waits after the last delivery
	}{
		{"stalled", 2, rawRoundQuiet},
		{"complete", 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				agents := []*rawNode{{}, {}, {}}
				t0 := time.Now()
				time.Sleep(time.Second)
				for _, n := range agents[:tc.delivered] {
					n.got.Store(time.Now().UnixNano())
				}
				times := waitRaw(context.Background(), agents, t0, time.Hour, rawRoundQuiet, func(string, int, int) {})
				if len(times) != tc.delivered {
					t.Errorf("%d delivery times, want %d", len(times), tc.delivered)
				}
				if waited := time.Since(t0) - time.Second; waited < tc.want || waited > tc.want+pollInterval {
					t.Errorf("waited %v after the last delivery, want %v", waited, tc.want)
				}
			})
		})
	}
}

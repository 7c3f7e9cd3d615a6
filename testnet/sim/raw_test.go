package sim

import (
	"testing"
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

package rawgossip

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// MedianRound reports the round whose last delivery is the median; a
// round that missed an agent counts as the slowest of all.
func TestMedianRound(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name   string
		rounds [][]time.Duration
		agents int
		want   []time.Duration
	}{
		{"middle of three", [][]time.Duration{{1 * s, 3 * s}, {1 * s, 1 * s}, {2 * s, 2 * s}}, 2, []time.Duration{2 * s, 2 * s}},
		{"a round short of an agent is slowest", [][]time.Duration{{9 * s}, {1 * s, 5 * s}, {1 * s, 4 * s}}, 2, []time.Duration{1 * s, 5 * s}},
		{"one round", [][]time.Duration{{1 * s, 2 * s}}, 2, []time.Duration{1 * s, 2 * s}},
		{"no agents", [][]time.Duration{{}, {}, {}}, 0, []time.Duration{}},
		{"no rounds", nil, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, MedianRound(tc.rounds, tc.agents)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// member is a Member whose deliveries the test sets: the rounds' waits
// are the unit under test here, the peers themselves are tested in
// wire_test.go.
type member struct {
	mu  sync.Mutex
	got map[int64]time.Time
	dup int64
}

func (m *member) Grafts() int64 { return 1 }
func (m *member) Prunes() int64 { return 0 }
func (m *member) Duplicates() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dup
}
func (m *member) Got(r int64) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.got[r]
	return at, ok
}
func (m *member) deliver(r int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.got == nil {
		m.got = map[int64]time.Time{}
	}
	m.got[r] = time.Now()
}

// A round that stops delivering ends RoundQuiet after its last delivery
// with what it delivered, not at its timeout: raw gossipsub has no
// catch-up. One that delivers to everyone ends at once.
func TestRoundEndsWhenQuiet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delivered int
		want      time.Duration // how long waitRound waits after the last delivery
	}{
		{"stalled", 2, RoundQuiet},
		{"complete", 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ms := []*member{{}, {}, {}}
				agents := []Member{ms[0], ms[1], ms[2]}
				t0 := time.Now()
				time.Sleep(time.Second)
				for _, m := range ms[:tc.delivered] {
					m.deliver(7)
				}
				times := waitRound(context.Background(), agents, 7, t0, time.Hour, func(string, int, int) {})
				if len(times) != tc.delivered {
					t.Errorf("%d delivery times, want %d", len(times), tc.delivered)
				}
				if waited := time.Since(t0) - time.Second; waited < tc.want || waited > tc.want+PollInterval {
					t.Errorf("waited %v after the last delivery, want %v", waited, tc.want)
				}
			})
		})
	}
}

package node

import (
	"testing"
	"time"
)

// SetGatherTimes replaces CoSignCoalesce and CoSignGatherWindow for t's
// duration.
func SetGatherTimes(t testing.TB, coalesce, window time.Duration) {
	coalesceOverride.Store(int64(coalesce))
	windowOverride.Store(int64(window))
	t.Cleanup(func() {
		coalesceOverride.Store(0)
		windowOverride.Store(0)
	})
}

// HeartbeatAddrs is heartbeatAddrs: the addresses a supernode's heartbeat
// names, given its host's.
var HeartbeatAddrs = heartbeatAddrs

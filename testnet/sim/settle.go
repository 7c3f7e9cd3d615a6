package sim

import (
	"context"
	"runtime"
	"time"

	"github.com/patchnet/patchnet/testnet"
)

// settle lets a ready zone run until its CPU use stops falling, for at
// most limit, and returns how long that took and the zone's CPU use over
// the last window, in cores. A zone that just meshed is still refreshing
// its DHT routing tables and trimming the connections set-up left; a fix
// published then would be measured against a booting zone, which a
// deployment never is. The use must also be below settleSaturated of the
// machine: on a saturated machine a flat use means a backlog, not rest.
func settle(ctx context.Context, limit time.Duration, progress testnet.Progress) (time.Duration, float64) {
	if limit <= 0 {
		return 0, 0
	}
	start := time.Now()
	prev, rate := -1.0, 0.0
	for ctx.Err() == nil && time.Since(start) < limit {
		rate = cpuRate(ctx, min(settleWindow, limit-time.Since(start)))
		progress("settling (s)", int(time.Since(start).Seconds()), int(limit.Seconds()))
		if prev >= 0 && rate >= settleFalling*prev && rate < settleSaturated*float64(runtime.NumCPU()) {
			break
		}
		prev = rate
	}
	return time.Since(start), rate
}

// cpuRate is this process's CPU use over the next d, in cores.
func cpuRate(ctx context.Context, d time.Duration) float64 {
	cpu0, t0 := cpuSeconds(), time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return (cpuSeconds() - cpu0) / max(time.Since(t0).Seconds(), 1e-9)
}

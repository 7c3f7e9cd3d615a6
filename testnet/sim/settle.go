package sim

import (
	"context"
	"runtime"
	"slices"
	"time"

	"github.com/patchnet/patchnet/testnet"
)

// settle lets a ready zone run until its CPU use stops falling, for at
// most limit, and returns how long that took and the zone's CPU use over
// the last window, in cores. A zone that just meshed is still refreshing
// its DHT routing tables and trimming the connections set-up left; a fix
// published then would be measured against a booting zone, which a
// deployment never is. The use must stop falling for settleQuiet windows
// (atRest) and be below settleSaturated of the machine: on a saturated
// machine a flat use means a backlog, not rest.
func settle(ctx context.Context, limit time.Duration, progress testnet.Progress) (time.Duration, float64) {
	if limit <= 0 {
		return 0, 0
	}
	start := time.Now()
	var rates []float64
	for ctx.Err() == nil && time.Since(start) < limit {
		rates = append(rates, cpuRate(ctx, min(settleWindow, limit-time.Since(start))))
		progress("settling (s)", int(time.Since(start).Seconds()), int(limit.Seconds()))
		if atRest(rates, float64(runtime.NumCPU())) {
			break
		}
	}
	if len(rates) == 0 {
		return time.Since(start), 0
	}
	return time.Since(start), rates[len(rates)-1]
}

// atRest reports whether a zone whose CPU use per window was rates
// (oldest first, in cores, on a machine of cores) stopped settling: each
// of the last settleQuiet windows used at least settleFalling of the
// lowest window before them, and less than settleSaturated of the
// machine.
func atRest(rates []float64, cores float64) bool {
	n := len(rates)
	if n <= settleQuiet {
		return false
	}
	low := slices.Min(rates[:n-settleQuiet])
	for _, r := range rates[n-settleQuiet:] {
		if r < settleFalling*low || r >= settleSaturated*cores {
			return false
		}
	}
	return true
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

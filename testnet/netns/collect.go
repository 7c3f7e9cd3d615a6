package netns

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/k8s"
)

// counters fills rep's egress, duplicates, memory and CPU from every
// daemon's local API, read the way `patchnet testnet collect` reads a
// cluster's nodes (k8s.Fetch, k8s.FillCounters), for update id (the
// samples' fetch bytes). The origin's egress is what the vendor's HTTP
// origin served (the supernodes' checks, agents' fallbacks) plus what
// `patchnet publish` served as seeder; the CPU time is the daemons' and
// that of the publish runs that exited. Call it while the daemons still
// run, before a baseline downloads from the vendor.
func (c *cluster) counters(ctx context.Context, rep *testnet.Report, id string) error {
	names := slices.Sorted(maps.Keys(c.procs))
	reports := make([]*k8s.NodeReport, 0, len(names))
	for i, name := range names {
		c.progress("collecting", i, len(names))
		r, err := k8s.Fetch(ctx, c.kit.Path(name))
		if err != nil {
			return fmt.Errorf("collecting %s's counters: %w", name, err)
		}
		reports = append(reports, r)
	}
	c.progress("collecting", len(names), len(names))
	k8s.FillCounters(rep, reports, id)
	rep.OriginEgressBytes += c.vendor.Served() + c.seeded.Load()
	rep.CPUSeconds += time.Duration(c.publishCPU.Load()).Seconds()
	return nil
}

// seededPrefix and seededSuffix frame the line `patchnet publish` prints
// on exit with the bytes it served as seeder.
const (
	seededPrefix = "served "
	seededSuffix = " artifact bytes to peers"
)

// countSeeded adds to n the bytes a publish output line says it served;
// other lines are left alone.
func countSeeded(line string, n *atomic.Int64) {
	rest, ok := strings.CutPrefix(line, seededPrefix)
	if !ok {
		return
	}
	num, ok := strings.CutSuffix(rest, seededSuffix)
	if !ok {
		return
	}
	if v, err := strconv.ParseInt(num, 10, 64); err == nil {
		n.Add(v)
	}
}

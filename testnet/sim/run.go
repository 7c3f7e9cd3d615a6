package sim

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"syscall"
	"time"

	"github.com/patchnet/patchnet/testnet"
)

func init() { testnet.Register(testnet.ModeSim, Run) }

// scenario runs one scenario on a started zone and fills rep.
type scenario func(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error

// scenarios are the scenarios sim runs.
var scenarios = map[string]scenario{
	testnet.ScenarioPropagation: runPropagation,
	testnet.ScenarioChurn:       runChurn,
	testnet.ScenarioByzantine:   runByzantine,
	testnet.ScenarioStolenKey:   runStolenKey,
	testnet.ScenarioLateJoin:    runLateJoin,
	testnet.ScenarioRevocation:  runRevocation,
	testnet.ScenarioFlood:       runFlood,
	testnet.ScenarioContent:     runContent,
	testnet.ScenarioPartition:   runPartition,
}

// Scenarios lists the scenarios sim runs, sorted.
func Scenarios() []string {
	var out []string
	for s := range scenarios {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Run starts a zone of p.Nodes agents, p.Supernodes supernodes and a
// publisher on a simulated network, runs p.Scenario in it and reports what
// happened, with the raw gossipsub baseline on the same topology when
// p.Baselines. A failed outcome is a false check in the report; an error
// means the run could not happen.
func Run(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	return RunWith(ctx, p, progress, Options{})
}

// RunWith is Run with o's settings and hooks: the same zone, scenario and
// report.
func RunWith(ctx context.Context, p testnet.Params, progress testnet.Progress, o Options) (*testnet.Report, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("checking parameters: %w", err)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	sc, ok := scenarios[p.Scenario]
	if p.Scenario == testnet.ScenarioPrivateZone {
		// go-libp2p's QUIC refuses a pre-shared key; the fabric has no TCP.
		return nil, fmt.Errorf("scenario %q: runs in netns mode (--mode netns): a private zone's pre-shared key needs TCP, and sim's network carries QUIC only", p.Scenario)
	}
	if !ok {
		return nil, fmt.Errorf("scenario %q: not run in sim yet (sim runs %v)", p.Scenario, Scenarios())
	}
	if progress == nil {
		progress = func(string, int, int) {}
	}
	dir, cleanup, err := o.zoneDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	net := newNetwork(p)
	defer net.close()
	rss0, live0, cpu0 := rss(), liveBytes(), cpuSeconds()
	z, err := startZone(ctx, p, o, dir, net, progress)
	if err != nil {
		return nil, err
	}
	defer z.lab.Close()
	o.started(z.lab, z.setup)
	rep := newReport(p)
	rep.SetupS = z.setup.Seconds()
	settled, idle := settle(ctx, p.Settle, progress)
	rep.SettleS, rep.IdleCPUCores = settled.Seconds(), idle
	nodes := int64(1 + p.Supernodes + p.Nodes)
	rep.MemoryPerNodeBytes = max(0, rss()-rss0) / nodes
	rep.LiveMemoryPerNodeBytes = max(0, liveBytes()-live0) / nodes
	if err := sc(ctx, z, rep, progress); err != nil {
		return nil, err
	}
	rep.CPUSeconds = cpuSeconds() - cpu0
	rep.ArtifactBytes = z.lab.ArtifactSize()
	if p.Baselines {
		if err := rawBaseline(ctx, z, rep, progress); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func newReport(p testnet.Params) *testnet.Report {
	return &testnet.Report{
		Scenario: p.Scenario, Mode: testnet.ModeSim, Nodes: p.Nodes, Supernodes: p.Supernodes, Threshold: p.Threshold,
		LatencyMS: float64(p.Latency) / float64(time.Millisecond), BandwidthBPS: p.Bandwidth,
		RolloutSpreadS: p.RolloutSpread.Seconds(),
		Results:        map[string]testnet.Result{}, Stages: map[string]testnet.Result{}, Checks: map[string]bool{},
	}
}

// rss is this process's resident set in bytes (0 where unreadable).
func rss() int64 {
	runtime.GC()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * int64(os.Getpagesize())
}

// liveBytes is this process's live heap and goroutine stacks in bytes,
// after a collection: what its objects hold, not what the collector has
// yet to free or return to the system.
func liveBytes() int64 {
	runtime.GC()
	m := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(m)
	var sum int64
	for _, s := range m {
		if s.Value.Kind() == metrics.KindUint64 {
			sum += int64(s.Value.Uint64())
		}
	}
	return sum
}

// cpuSeconds is the user and system CPU this process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

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
	testnet.ScenarioPrivateZone: runPrivateZone,
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
	p.Transport = transportFor(p)
	if p.Scenario == testnet.ScenarioPrivateZone {
		if p.Transport != testnet.TransportTCP {
			// go-libp2p's QUIC refuses a pre-shared key.
			return nil, fmt.Errorf("scenario %q: a private zone's pre-shared key needs --transport tcp in sim (QUIC has none)", p.Scenario)
		}
		if p.Nodes < 2 {
			return nil, fmt.Errorf("scenario %q: needs at least 2 agents, one in each zone (have %d)", p.Scenario, p.Nodes)
		}
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
	mem0, cpu0 := memory(), cpuSeconds()
	z, err := startZone(ctx, p, o, dir, net, progress)
	if err != nil {
		return nil, err
	}
	defer z.close()
	o.started(z.lab, z.setup)
	rep := newReport(p)
	rep.SetupS = z.setup.Seconds()
	settled, idle := settle(ctx, p.Settle, progress)
	rep.SettleS, rep.IdleCPUCores = settled.Seconds(), idle
	nodes := int64(1 + p.Supernodes + p.Nodes)
	mem := memory()
	rep.MemoryPerNodeBytes = max(0, mem.rss-mem0.rss) / nodes
	rep.LiveMemoryPerNodeBytes = max(0, mem.live-mem0.live) / nodes
	if err := sc(ctx, z, rep, progress); err != nil {
		return nil, err
	}
	rep.CPUSeconds = cpuSeconds() - cpu0
	rep.AnnouncementBytes = z.announcementBytes(ctx)
	rep.ArtifactBytes = z.lab.ArtifactSize()
	// The baselines rebuild one zone's agents and links; private-zone's
	// report covers two zones, so they would stand for half its agents.
	if p.Baselines && z.private == nil {
		if err := rawBaseline(ctx, z, rep, progress); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// transportFor is the transport p's nodes connect over: Params.Transport,
// or where it is empty, tcp for a private zone (its pre-shared key needs
// it) and quic for the rest.
func transportFor(p testnet.Params) string {
	switch {
	case p.Transport != "":
		return p.Transport
	case p.Scenario == testnet.ScenarioPrivateZone:
		return testnet.TransportTCP
	}
	return testnet.TransportQUIC
}

func newReport(p testnet.Params) *testnet.Report {
	return &testnet.Report{
		Scenario: p.Scenario, Mode: testnet.ModeSim, Nodes: p.Nodes, Supernodes: p.Supernodes, Threshold: p.Threshold,
		LatencyMS: float64(p.Latency) / float64(time.Millisecond), JitterMS: float64(p.Jitter) / float64(time.Millisecond), Loss: p.Loss, BandwidthBPS: p.Bandwidth, Transport: p.Transport,
		RolloutSpreadS: p.RolloutSpread.Seconds(),
		Results:        map[string]testnet.Result{}, Stages: map[string]testnet.Result{}, Checks: map[string]bool{},
	}
}

// memUse is this process's memory after a collection: its resident set
// (0 where unreadable), and its live heap and goroutine stacks — what its
// objects hold, not what the collector has yet to return to the system.
type memUse struct{ rss, live int64 }

// memory measures memUse, collecting once first.
func memory() memUse {
	runtime.GC()
	m := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(m)
	var u memUse
	for _, s := range m {
		if s.Value.Kind() == metrics.KindUint64 {
			u.live += int64(s.Value.Uint64())
		}
	}
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return u
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err == nil {
		u.rss = resident * int64(os.Getpagesize())
	}
	return u
}

// cpuSeconds is the user and system CPU this process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

package netns

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/patchnet/patchnet/internal/netns"
	"github.com/patchnet/patchnet/testnet"
)

func init() { testnet.Register(testnet.ModeNetns, Run) }

// scenarios are the scenarios netns runs.
var scenarios = map[string]func(context.Context, testnet.Params, testnet.Progress) (*testnet.Report, error){
	testnet.ScenarioPropagation: propagation,
	testnet.ScenarioChurn:       churn,
	testnet.ScenarioPartition:   partition,
	testnet.ScenarioLateJoin:    lateJoin,
	testnet.ScenarioStolenKey:   stolenKey,
	testnet.ScenarioByzantine:   byzantine,
	testnet.ScenarioRevocation:  revocation,
	testnet.ScenarioContent:     content,
	testnet.ScenarioFlood:       flood,
	testnet.ScenarioPrivateZone: privateZoneScenario,
	testnet.ScenarioTable2:      table2,
}

// Scenarios lists the scenarios netns runs, sorted.
func Scenarios() []string { return slices.Sorted(maps.Keys(scenarios)) }

// Run runs p's scenario (one of Scenarios) with real patchnet
// processes in network namespaces. It needs root; every namespace and
// process it makes is gone when it returns, on error too.
func Run(ctx context.Context, p testnet.Params, progress testnet.Progress) (rep *testnet.Report, err error) {
	if err := netns.Available(); err != nil {
		return nil, fmt.Errorf("netns mode: %w", err)
	}
	if p.Latency > 0 || p.Loss > 0 {
		if err := netns.LatencyAvailable(); err != nil {
			return nil, fmt.Errorf("latency %v, loss %v: %w; or run with neither", p.Latency, p.Loss, err)
		}
	}
	if p.Scenario == testnet.ScenarioTable2 && p.RolloutSpread > 0 {
		return nil, fmt.Errorf("rollout spread %v: scenario %s measures each update's download and install from publication, which a spread would delay", p.RolloutSpread, p.Scenario)
	}
	if p.Nodes > MaxNodes {
		return nil, fmt.Errorf("nodes %d: netns runs at most %d processes' agents", p.Nodes, MaxNodes)
	}
	scenario, ok := scenarios[p.Scenario]
	if !ok {
		return nil, fmt.Errorf("scenario %q: netns runs %s", p.Scenario, strings.Join(Scenarios(), ", "))
	}
	return scenario(ctx, p, progress)
}

// withCluster sets up a cluster for agents, runs body, and tears it down
// whatever happens, timing the set-up.
func withCluster(ctx context.Context, p testnet.Params, progress testnet.Progress, agents []string,
	setup func(context.Context, *cluster) error, body func(context.Context, *cluster, time.Duration) (*testnet.Report, error)) (rep *testnet.Report, err error) {
	start := time.Now()
	c, err := newCluster(ctx, p, progress, agents)
	defer func() { err = errors.Join(err, c.close()) }()
	if err != nil {
		return nil, err
	}
	if err := c.startSupernodes(ctx); err != nil {
		return nil, err
	}
	if err := setup(ctx, c); err != nil {
		return nil, err
	}
	if err := c.settle(ctx); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	rep, err = body(rctx, c, time.Since(start))
	if rep != nil {
		err = errors.Join(err, c.checkInstalls(ctx, rep))
	}
	return rep, err
}

// baseReport is the report's header for p.
func baseReport(p testnet.Params, c *cluster, setup time.Duration) *testnet.Report {
	return &testnet.Report{Scenario: p.Scenario, Mode: testnet.ModeNetns, Nodes: len(c.agents), Supernodes: p.Supernodes,
		Threshold: p.Threshold, LatencyMS: float64(p.Latency) / float64(time.Millisecond), JitterMS: float64(p.Jitter) / float64(time.Millisecond), Loss: p.Loss, BandwidthBPS: p.Bandwidth, ArtifactBytes: p.ArtifactBytes,
		RolloutSpreadS: p.RolloutSpread.Seconds(),
		Results:        map[string]testnet.Result{}, Checks: map[string]bool{}, SetupS: setup.Seconds()}
}

package netns

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchnet/patchnet/internal/netns"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/rawgossip"
)

// params are a small run: two supernodes (k = 2), shaped 10 Mbit/s links.
func params(t *testing.T, scenario string, nodes int) testnet.Params {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("no network namespaces here: %v", err)
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	p := testnet.DefaultParams()
	p.Mode, p.Scenario, p.Nodes, p.Supernodes, p.Threshold = testnet.ModeNetns, scenario, nodes, 2, 2
	p.Bandwidth, p.ArtifactBytes, p.Timeout = Table2Bandwidth, 256<<10, 2*time.Minute
	if err := netns.LatencyAvailable(); err != nil {
		t.Logf("running without latency: %v", err)
		p.Latency = 0
	}
	return p
}

func run(t *testing.T, p testnet.Params) *testnet.Report {
	t.Helper()
	rep, err := testnet.Run(context.Background(), p, func(stage string, done, total int) {
		t.Logf("%s %d/%d", stage, done, total)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range rep.Checks {
		if !ok {
			t.Errorf("check %s failed", name)
		}
	}
	// Every run audits every agent's journal.
	requireChecks(t, rep, testnet.CheckNoWrongInstalls)
	return rep
}

// Propagation through processes in namespaces: every agent installs,
// every stage is timed for every agent.
func TestPropagation(t *testing.T) {
	p := params(t, testnet.ScenarioPropagation, 3)
	rep := run(t, p)
	if got := rep.Results[testnet.ResultPatchnet].Delivered; got != 1 {
		t.Errorf("delivered to %v of the agents, want all", got)
	}
	if len(rep.Samples) != p.Nodes {
		t.Fatalf("%d samples, want %d", len(rep.Samples), p.Nodes)
	}
	for _, s := range rep.Samples {
		if s.Receipt <= 0 || s.Accept <= 0 || s.Install <= 0 {
			t.Errorf("%s: a stage is missing: %+v", s.Node, s)
		}
	}
	checkCounters(t, rep)
	if _, err := exec.LookPath("curl"); err == nil {
		if got := rep.Results[testnet.ResultHTTPOrigin].Delivered; got != 1 {
			t.Errorf("the HTTP origin baseline delivered to %v of the agents, want all", got)
		}
	}
	if rep.AnnouncementBytes <= 0 { // the raw rounds' messages take its size
		t.Errorf("announcement_bytes %d: want the agents' accepted announcement's size", rep.AnnouncementBytes)
	}
	raw := rep.Results[testnet.ResultRawGossipsub]
	if raw.Delivered != 1 {
		t.Errorf("the raw gossipsub baseline delivered to %v of the agents, want all", raw.Delivered)
	}
	if rounds := slices.Sorted(slices.Values(rep.RawRoundsMaxMS)); len(rounds) != rawgossip.Rounds || rounds[rawgossip.Rounds/2] != raw.MaxMS {
		t.Errorf("raw gossipsub rounds' last deliveries %v, result's max %v: want %d rounds and the median one reported",
			rep.RawRoundsMaxMS, raw.MaxMS, rawgossip.Rounds)
	}
	t.Logf("install p50 %.0f ms, max %.0f ms; accept max %.0f ms; raw gossipsub max %.0f ms (rounds %v, %.1f duplicates); HTTP origin p50 %.0f ms; setup %.1f s",
		rep.Results[testnet.ResultPatchnet].P50MS, rep.Results[testnet.ResultPatchnet].MaxMS, rep.Stages["accept"].MaxMS,
		raw.MaxMS, rep.RawRoundsMaxMS, rep.RawDuplicatesPerMessage, rep.Results[testnet.ResultHTTPOrigin].P50MS, rep.SetupS)
}

// Propagation over links that drop 5 % of what each node receives (an
// iptables statistic rule in each namespace): every agent installs, and
// the report says the loss.
func TestPropagationOverLossyLinks(t *testing.T) {
	p := params(t, testnet.ScenarioPropagation, 3)
	if err := netns.LatencyAvailable(); err != nil {
		t.Skip(err)
	}
	p.Loss = 0.05
	rep := run(t, p)
	if got := rep.Results[testnet.ResultPatchnet].Delivered; got != 1 || rep.Loss != p.Loss {
		t.Errorf("delivered to %v of the agents, report's loss %v; want all, %v", got, rep.Loss, p.Loss)
	}
}

// Churn through processes: a third of six agents SIGKILLed right after
// publication, one of them restarted once the four survivors installed;
// the survivors and the restarted one install (the run's checks), each
// with every stage timed and the whole artifact fetched.
func TestChurn(t *testing.T) {
	p := params(t, testnet.ScenarioChurn, 6)
	p.ChurnShare = 0.34 // two of six
	rep := run(t, p)
	for _, want := range []string{"survivors_accepted", "survivors_installed", "restarted_caught_up"} {
		if _, ok := rep.Checks[want]; !ok {
			t.Errorf("no check %s in %v", want, rep.Checks)
		}
	}
	if len(rep.Samples) != 5 {
		t.Fatalf("%d samples, want the 4 survivors and the restarted agent", len(rep.Samples))
	}
	for _, s := range rep.Samples {
		if s.Receipt <= 0 || s.Accept <= 0 || s.Install <= 0 {
			t.Errorf("%s: a stage is missing: %+v", s.Node, s)
		}
	}
	checkCounters(t, rep)
}

// Churn's split is the seed's, kills ChurnShare of the agents and keeps
// the rest; a share that would restart nobody is refused before any
// namespace is made.
func TestChurnSplit(t *testing.T) {
	agents := []string{"a1", "a2", "a3", "a4", "a5", "a6"}
	p := testnet.DefaultParams()
	p.ChurnShare = 0.34
	killed, survivors := churnSplit(agents, p)
	again, _ := churnSplit(agents, p)
	if len(killed) != 2 || len(survivors) != 4 || !slices.Equal(killed, again) {
		t.Errorf("split %v / %v (again %v): want 2 killed, 4 survivors, the same for the same seed", killed, survivors, again)
	}
	if got := append(slices.Clone(killed), survivors...); !slices.Equal(slices.Sorted(slices.Values(got)), agents) {
		t.Errorf("split %v / %v is not a partition of %v", killed, survivors, agents)
	}
	p.Nodes, p.ChurnShare = 3, 0.3
	if _, err := churn(context.Background(), p, nil); err == nil || !strings.Contains(err.Error(), "restarts none") {
		t.Errorf("churn of 0.3 × 3 agents: %v, want an error saying it restarts none", err)
	}
}

// The seeder's bytes are read from publish's exit line, and from no
// other line.
func TestCountSeeded(t *testing.T) {
	var n atomic.Int64
	for _, line := range []string{"served 1234 artifact bytes to peers", "served 66 artifact bytes to peers",
		"published X version 1", "served lots artifact bytes to peers", "  co-signed by supernode served 5 artifact bytes to peers"} {
		countSeeded(line, &n)
	}
	if got := n.Load(); got != 1300 {
		t.Errorf("counted %d bytes, want 1300", got)
	}
}

// checkCounters checks the counters read from the daemons' local APIs:
// every agent fetched the whole artifact from somebody, and the bytes the
// zone's nodes, the publisher and the vendor served cover those fetches;
// gossip delivered with duplicates counted; memory and CPU were read.
func checkCounters(t *testing.T, rep *testnet.Report) {
	t.Helper()
	var fetched int64
	for _, s := range rep.Samples {
		if got := s.FromPeers + s.FromOrigin; got != rep.ArtifactBytes {
			t.Errorf("%s fetched %d bytes (peers %d, origin %d), want the artifact's %d", s.Node, got, s.FromPeers, s.FromOrigin, rep.ArtifactBytes)
		}
		fetched += s.FromPeers + s.FromOrigin
	}
	if served := rep.PeerEgressBytes + rep.OriginEgressBytes; served < int64(len(rep.Samples))*rep.ArtifactBytes || served < fetched {
		t.Errorf("peers served %d bytes and the origin %d: less than the %d agents × %d bytes they fetched", rep.PeerEgressBytes,
			rep.OriginEgressBytes, len(rep.Samples), rep.ArtifactBytes)
	}
	// Every daemon is in the announce and heartbeat topics' meshes with
	// several others, so each heartbeat reaches it more than once.
	if !(rep.DuplicatesPerMessage > 0) {
		t.Errorf("duplicates per message %v, want some: each node hears each message from several mesh peers", rep.DuplicatesPerMessage)
	}
	if rep.MemoryPerNodeBytes <= 0 || rep.CPUSeconds <= 0 {
		t.Errorf("memory per node %d, CPU %v s: want both read from the daemons", rep.MemoryPerNodeBytes, rep.CPUSeconds)
	}
	t.Logf("peer egress %d, origin egress %d (artifact %d × %d agents); duplicates per message %.2f; memory per node %d MiB; CPU %.1f s",
		rep.PeerEgressBytes, rep.OriginEgressBytes, rep.ArtifactBytes, len(rep.Samples), rep.DuplicatesPerMessage, rep.MemoryPerNodeBytes>>20, rep.CPUSeconds)
}

// The paper's Table II: the three real packages install on the agent each
// is for, and each row has its numbers beside the paper's.
func TestTable2(t *testing.T) {
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	rep := run(t, params(t, testnet.ScenarioTable2, 3))
	if len(rep.Table2) != len(paper) {
		t.Fatalf("%d rows, want %d", len(rep.Table2), len(paper))
	}
	var bytes int64
	for i, r := range rep.Table2 {
		bytes += r.Bytes
		if r.Package != paper[i].pkg || r.S1S <= 0 || r.S2S <= 0 || r.ManagerS <= 0 || r.PaperS1S == 0 {
			t.Errorf("row %d: %+v", i, r)
		}
		t.Logf("%-24s %-8s %8d B  S1 %.3f s (line %.3f, paper %.2f)  S2 %.3f s (manager %.3f, paper %.2f)",
			r.System, r.Package, r.Bytes, r.S1S, r.LineRateS1S, r.PaperS1S, r.S2S, r.ManagerS, r.PaperS2S)
	}
	// Each package was fetched by the one agent it is for, from somebody.
	if served := rep.PeerEgressBytes + rep.OriginEgressBytes; served < bytes || rep.MemoryPerNodeBytes <= 0 || rep.CPUSeconds <= 0 {
		t.Errorf("peers served %d bytes, the origin %d (the packages are %d); memory per node %d, CPU %v s", rep.PeerEgressBytes,
			rep.OriginEgressBytes, bytes, rep.MemoryPerNodeBytes, rep.CPUSeconds)
	}
}

// A publish run's CPU is read from its rusage once it exited: a process
// that spins is counted, one not yet run is 0.
func TestCPUTime(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	if cpuTime(cmd.ProcessState) != 0 {
		t.Fatal("a process not run has CPU time")
	}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if got := cpuTime(cmd.ProcessState); got <= 0 {
		t.Errorf("a spinning process used %v of CPU, want some", got)
	}
}

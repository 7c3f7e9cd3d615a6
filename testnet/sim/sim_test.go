package sim

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	_ "net/http/pprof"
	"os"
	"reflect"
	"runtime/pprof"
	rtrace "runtime/trace"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/rawgossip"
	"github.com/patchnet/patchnet/updates"
)

// small is a zone small enough for make test: its outcomes are asserted,
// never its times.
func small(scenario string) testnet.Params {
	p := testnet.DefaultParams()
	p.Scenario = scenario
	p.Nodes = 12
	p.Latency = 5 * time.Millisecond
	p.Timeout = time.Minute
	p.Baselines = false
	p.ArtifactBytes = 16 << 10
	p.Settle = 0 // outcomes, not times: no need to wait for a quiet zone
	return p
}

func run(t *testing.T, p testnet.Params) *testnet.Report {
	t.Helper()
	return runWith(t, p, Options{})
}

// runWith is run with o's settings and hooks.
func runWith(t *testing.T, p testnet.Params, o Options) *testnet.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunWith(ctx, p, nil, o)
	if err != nil {
		t.Fatalf("running %s: %v", p.Scenario, err)
	}
	b, _ := json.MarshalIndent(rep, "", " ")
	t.Logf("report without samples: %s", b[:min(len(b), 1500)])
	for name, ok := range rep.Checks {
		if !ok {
			t.Errorf("check %s failed", name)
		}
	}
	return rep
}

// TestPropagation: every agent accepts and installs the fix, none installs
// anything else, and both baselines ran on the same zone: raw gossipsub
// reached every agent, and the HTTP origin served every agent the whole
// artifact. Every agent's fetch is timed on its own. The raw gossipsub
// baseline carried a message the size of the announcement as an agent
// delivered it (watched here on another agent than the run's observer).
func TestPropagation(t *testing.T) {
	p := small(testnet.ScenarioPropagation)
	p.Baselines = true
	var watch *overlay.Subscription
	rep := runWith(t, p, Options{OnStarted: func(lab *nodelab.Lab, _ time.Duration) {
		ov := lab.Agents[len(lab.Agents)-1].Overlay()
		var err error
		if watch, err = ov.Subscribe(ov.AnnounceTopic()); err != nil {
			t.Fatalf("watching the announce topic: %v", err)
		}
	}})
	// The agent installed, so it was delivered the announcement; closed
	// with its node, the watch still holds what it queued.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	m, err := watch.Next(ctx)
	if err != nil {
		t.Fatalf("reading the watched announcement: %v", err)
	}
	if rep.AnnouncementBytes != int64(len(m.Data)) {
		t.Errorf("report's announcement_bytes %d, an agent delivered a %d-byte announcement: the raw baseline's message must be its size", rep.AnnouncementBytes, len(m.Data))
	}
	if len(rep.Samples) != p.Nodes || rep.WrongInstalls != 0 {
		t.Errorf("samples %d, wrong installs %d", len(rep.Samples), rep.WrongInstalls)
	}
	for _, s := range rep.Samples {
		if want := fmt.Sprintf("%d bytes from ", rep.ArtifactBytes); !strings.HasPrefix(s.Fetch, want) {
			t.Errorf("%s's fetch %q, want its fetched event's detail (%q…)", s.Node, s.Fetch, want)
		}
		if s.FetchTime <= 0 || s.FetchTime > s.Install {
			t.Errorf("%s's fetch took %v, installed at %v: want the fetch's own time, within the install's", s.Node, s.FetchTime, s.Install)
		}
	}
	if got := rep.Stages["fetch"].Delivered; got != 1 {
		t.Errorf("fetch stage delivered %v, want every agent's fetch", got)
	}
	for _, sys := range []string{testnet.ResultPatchnet, testnet.ResultRawGossipsub, testnet.ResultHTTPOrigin} {
		if got := rep.Results[sys].Delivered; got != 1 {
			t.Errorf("%s delivered to %v of the agents, want all", sys, got)
		}
	}
	if rounds := slices.Sorted(slices.Values(rep.RawRoundsMaxMS)); len(rounds) != rawgossip.Rounds || rounds[rawgossip.Rounds/2] != rep.Results[testnet.ResultRawGossipsub].MaxMS {
		t.Errorf("raw gossipsub rounds' last deliveries %v, result's max %v: want %d rounds and the median one reported",
			rep.RawRoundsMaxMS, rep.Results[testnet.ResultRawGossipsub].MaxMS, rawgossip.Rounds)
	}
	if want := int64(p.Nodes) * rep.ArtifactBytes; rep.HTTPOriginEgressBytes != want {
		t.Errorf("HTTP origin served %d bytes, want %d (every agent the whole artifact)", rep.HTTPOriginEgressBytes, want)
	}
	// A node holds at least its state database's memtable.
	if rep.LiveMemoryPerNodeBytes < node.MinStateDBMemTable {
		t.Errorf("live memory per node %d bytes, want at least a memtable (%d)", rep.LiveMemoryPerNodeBytes, node.MinStateDBMemTable)
	}
}

// TestLossyLinks: with 5 % of the datagrams every node receives dropped
// at random, every agent still accepts and installs (QUIC retransmits,
// the zone's catch-up fills what gossip lost), and the report says the
// loss it ran with.
func TestLossyLinks(t *testing.T) {
	p := small(testnet.ScenarioPropagation)
	p.Loss = 0.05
	rep := run(t, p)
	if rep.Loss != p.Loss {
		t.Errorf("report's loss %v, want %v", rep.Loss, p.Loss)
	}
	if got := rep.Results[testnet.ResultPatchnet].Delivered; got != 1 {
		t.Errorf("delivered to %v of the agents over lossy links, want all", got)
	}
}

// TestRolloutSpread: with a rollout spread every agent accepts at once and
// installs at its own offset within the spread, so some wait well past
// their acceptance (twelve offsets all within the first quarter of the
// spread would be a 1 in 16 million draw), and none installs before it
// accepted or after the spread ran out (plus the run's slack).
func TestRolloutSpread(t *testing.T) {
	p := small(testnet.ScenarioPropagation)
	p.RolloutSpread = 8 * time.Second
	rep := run(t, p)
	if rep.RolloutSpreadS != p.RolloutSpread.Seconds() {
		t.Errorf("report's rollout spread %v s, want %v", rep.RolloutSpreadS, p.RolloutSpread.Seconds())
	}
	var longest time.Duration
	for _, s := range rep.Samples {
		wait := s.Install - s.Accept
		if s.Accept == 0 || s.Install == 0 || wait < 0 || wait > p.RolloutSpread+p.Timeout {
			t.Errorf("%s accepted at %v, installed at %v", s.Node, s.Accept, s.Install)
		}
		longest = max(longest, wait)
	}
	if longest < p.RolloutSpread/4 {
		t.Errorf("longest wait from acceptance to install %v; want some agents at least %v into the spread", longest, p.RolloutSpread/4)
	}
}

// TestChurn: with 30% of the agents killed just after publication, every
// survivor accepts and installs, and the restarted half catches up.
func TestChurn(t *testing.T) {
	run(t, small(testnet.ScenarioChurn))
}

// TestByzantine: a supernode's conflicting payload (wrong digest), below k,
// is installed nowhere; the honest fix everywhere.
func TestByzantine(t *testing.T) {
	if rep := run(t, small(testnet.ScenarioByzantine)); rep.WrongInstalls != 0 {
		t.Errorf("%d wrong installs", rep.WrongInstalls)
	}
}

// TestStolenKey: the thief's announcement is refused by every supernode and
// accepted by no agent; the real fix is installed everywhere.
func TestStolenKey(t *testing.T) {
	if rep := run(t, small(testnet.ScenarioStolenKey)); rep.WrongInstalls != 0 {
		t.Errorf("%d wrong installs", rep.WrongInstalls)
	}
}

// TestLateJoin: agents started after the fix went out catch up and
// install it.
func TestLateJoin(t *testing.T) {
	rep := run(t, small(testnet.ScenarioLateJoin))
	if want := 12 + testnet.LateJoiners(12); len(rep.Samples) != want {
		t.Errorf("%d samples, want %d (the late joiners included)", len(rep.Samples), want)
	}
}

// TestRevocation: a revoked supernode's co-signature counts nowhere. With
// k=2 of the 2 others every agent still installs; with k=3 of 3 (one
// revoked) no agent accepts.
func TestRevocation(t *testing.T) {
	for _, k := range []int{2, 3} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			p := small(testnet.ScenarioRevocation)
			p.Threshold = k
			rep := run(t, p)
			if _, ok := rep.Checks["revoked_cosigner_never_counted"]; !ok {
				t.Error("no revoked_cosigner_never_counted check")
			}
		})
	}
}

// TestFlood: a forger's forged announcements and a replayer's copies of
// the real fix that add nothing are dropped, both are graylisted and
// disconnected; every agent still installs the real fix.
func TestFlood(t *testing.T) {
	run(t, small(testnet.ScenarioFlood))
}

// TestContent: a 1 MiB artifact from an origin capped at 1 MiB/s reaches
// every agent, the agents share it (the origin serves at most supernodes+1
// copies), and the HTTP origin baseline serves every agent a whole copy.
func TestContent(t *testing.T) {
	p := small(testnet.ScenarioContent)
	p.ArtifactBytes, p.OriginBandwidth, p.Baselines = 1<<20, 1<<20, true
	rep := run(t, p)
	if rep.HTTPOriginEgressBytes != int64(p.Nodes)*rep.ArtifactBytes {
		t.Errorf("HTTP origin served %d bytes, want %d", rep.HTTPOriginEgressBytes, int64(p.Nodes)*rep.ArtifactBytes)
	}
	t.Logf("origin %d, peers %d, HTTP origin %d bytes; artifact %d", rep.OriginEgressBytes, rep.PeerEgressBytes, rep.HTTPOriginEgressBytes, rep.ArtifactBytes)
}

var (
	benchNodes    = flag.Int("sim.nodes", 500, "agents in BenchmarkZone")
	benchScenario = flag.String("sim.scenario", testnet.ScenarioPropagation, "scenario of BenchmarkZone")
	benchTimeout  = flag.Duration("sim.timeout", 10*time.Minute, "BenchmarkZone's timeout (set-up and after publication)")
	benchBase     = flag.Bool("sim.baselines", true, "run BenchmarkZone's baselines")
	benchOut      = flag.String("sim.out", "", "write BenchmarkZone's report (JSON) to this file")
	benchPprof    = flag.String("sim.pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060) during BenchmarkZone")
	benchProfile  = flag.String("sim.cpuprofile", "", "write a CPU profile of the -sim.cpuprofile-for after BenchmarkZone's publication to this file")
	benchProfFor  = flag.Duration("sim.cpuprofile-for", 20*time.Second, "how long after publication -sim.cpuprofile profiles (the first seconds are the announcement's spread)")
	benchProfAt   = flag.Duration("sim.cpuprofile-at", 0, "how long after publication -sim.cpuprofile starts (0: at once; later for the rollout's fetches)")
	benchTrace    = flag.String("sim.trace", "", "write an execution trace (go tool trace; -pprof=sched for where goroutines waited to run) of the same window as -sim.cpuprofile to this file")
	benchSettle   = flag.Duration("sim.settle", testnet.DefaultParams().Settle, "BenchmarkZone's longest settle before publication")
	benchSpread   = flag.Duration("sim.rollout-spread", 0, "BenchmarkZone's rollout spread (installs at each agent's offset within it)")
	benchTrans    = flag.String("sim.transport", "", "BenchmarkZone's transport: quic or tcp (empty: the scenario's default)")
)

// BenchmarkZone runs one scenario at -sim.nodes agents (500 by default) and
// logs its report; not part of make test:
//
//	go test -run '^$' -bench BenchmarkZone -benchtime 1x -timeout 30m ./testnet/sim/ -args -sim.nodes 1000
func BenchmarkZone(b *testing.B) {
	p := testnet.DefaultParams()
	p.Scenario, p.Nodes, p.Timeout, p.Baselines, p.Settle = *benchScenario, *benchNodes, *benchTimeout, *benchBase, *benchSettle
	p.RolloutSpread, p.Transport = *benchSpread, *benchTrans
	if *benchPprof != "" {
		go func() { b.Log(http.ListenAndServe(*benchPprof, nil)) }()
	}
	for b.Loop() {
		start := time.Now()
		var lab *nodelab.Lab
		stop := make(chan struct{})
		rep, err := RunWith(context.Background(), p, progressLog(b), Options{
			OnStarted: func(l *nodelab.Lab, _ time.Duration) {
				lab = l
				go watchConns(b, l, 10*time.Second, stop)
			},
			OnPublished: profileAfter(b, *benchProfAt, *benchProfFor, recording{*benchProfile, cpuProfile}, recording{*benchTrace, execTrace}),
		})
		close(stop)
		if err != nil {
			b.Fatal(err)
		}
		logRunDiagnostics(b, lab)
		samples := rep.Samples
		rep.Samples = nil
		js, _ := json.MarshalIndent(rep, "", "  ")
		b.Logf("%d agents, %s, run %v:\n%s", p.Nodes, p.Scenario, time.Since(start), js)
		if *benchOut != "" {
			rep.Samples = samples
			js, _ = json.MarshalIndent(rep, "", "  ")
			if err := os.WriteFile(*benchOut, js, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// recording is one kind of record (a CPU profile, an execution trace)
// written to file; none if file is empty.
type recording struct {
	file  string
	start func(io.Writer) (stop func(), err error)
}

// cpuProfile starts a CPU profile.
func cpuProfile(w io.Writer) (func(), error) { return pprof.StopCPUProfile, pprof.StartCPUProfile(w) }

// execTrace starts an execution trace.
func execTrace(w io.Writer) (func(), error) { return rtrace.Stop, rtrace.Start(w) }

// profileAfter is an OnPublished hook writing each recording of d from at
// after the publication.
func profileAfter(b *testing.B, at, d time.Duration, recs ...recording) func(*updates.Announcement, time.Time) {
	var once sync.Once
	return func(*updates.Announcement, time.Time) {
		once.Do(func() {
			time.AfterFunc(at, func() {
				for _, r := range recs {
					recordFor(b, r, d)
				}
			})
		})
	}
}

// recordFor writes r for the next d.
func recordFor(b *testing.B, r recording, d time.Duration) {
	if r.file == "" {
		return
	}
	f, err := os.Create(r.file)
	if err != nil {
		b.Error(err)
		return
	}
	stop, err := r.start(f)
	if err != nil {
		f.Close()
		b.Error(err)
		return
	}
	time.AfterFunc(d, func() {
		stop()
		f.Close()
	})
}

// logRunDiagnostics logs the overlay counters summed over every node (read
// after the run: the counters outlive the nodes) — drops at the validation
// queue, ignored copies and duplicates explain a slow spread — and why the
// first few agents that fetched from the vendor URL did.
func logRunDiagnostics(b *testing.B, lab *nodelab.Lab) {
	if lab == nil {
		return
	}
	sum := map[string]uint64{}
	for _, m := range lab.Members() {
		v := reflect.ValueOf(m.Overlay().Stats())
		for i := range v.NumField() {
			if f := v.Field(i); f.CanUint() {
				sum[v.Type().Field(i).Name] += f.Uint()
			}
		}
	}
	js, _ := json.Marshal(sum)
	b.Logf("overlay counters over every node: %s", js)
	shown := 0
	for _, m := range lab.Agents {
		if e, ok := m.Status().Last(node.EventFetched); ok && strings.Contains(e.Source, "vendor") && shown < 5 {
			b.Logf("%s fetched %s", m.Name, e.Detail)
			shown++
		}
	}
}

// progressLog prints a stage's count when it changes by a tenth of its
// total, or reaches it.
func progressLog(b *testing.B) testnet.Progress {
	var mu sync.Mutex
	last := map[string]int{}
	return func(stage string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		prev, seen := last[stage]
		if seen && done != total && done-prev < max(1, total/10) {
			return
		}
		if seen && done == prev {
			return
		}
		last[stage] = done
		fmt.Fprintf(os.Stderr, "%s %s %d/%d\n", time.Now().Format("15:04:05"), stage, done, total)
	}
}

// TestPartition: with the network cut in two, the side with the publisher
// and k supernodes accepts and installs the fix, the cut side (fewer than
// k supernodes) accepts nothing; once healed, the cut side catches up and
// installs it, and nobody installs anything else.
func TestPartition(t *testing.T) {
	p := small(testnet.ScenarioPartition)
	// The sides come apart when QUIC gives up on the silent connections
	// across the cut (its 30 s idle timeout, more for a connection with
	// data in flight); the timeout bounds that wait too.
	p.Timeout = 90 * time.Second
	rep := run(t, p)
	if rep.WrongInstalls != 0 {
		t.Errorf("%d wrong installs", rep.WrongInstalls)
	}
	if got := rep.Stages["cut_side_before_heal"].Delivered; got != 0 {
		t.Errorf("cut side accepted %v before the heal, want none", got)
	}
	for _, stage := range []string{"connected_side", "caught_up"} {
		if got := rep.Stages[stage].Delivered; got != 1 {
			t.Errorf("stage %s delivered to %v of its agents, want all", stage, got)
		}
	}
}

// TestScenariosOverTCP: on the tcp transport (libp2p's upgrader over the
// fabric's streams) the zone forms and the scenarios whose outcome rests
// on the transport pass every check: propagation with both baselines on
// the same transport, lossy links (segments sent again), churn (streams
// closed by a stopped node), partition (streams silent across the cut
// until yamux gives up on them, then catch-up after the heal).
func TestScenariosOverTCP(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		baselines bool
		loss      float64
	}{
		{testnet.ScenarioPropagation, true, 0},
		{testnet.ScenarioPropagation, false, 0.05},
		{testnet.ScenarioChurn, false, 0},
		{testnet.ScenarioPartition, false, 0},
	} {
		t.Run(fmt.Sprintf("%s/loss=%v", tc.scenario, tc.loss), func(t *testing.T) {
			p := small(tc.scenario)
			p.Transport, p.Baselines, p.Loss = testnet.TransportTCP, tc.baselines, tc.loss
			if tc.scenario == testnet.ScenarioPartition {
				p.Timeout = 3 * time.Minute // the cut holds until yamux gives up (~40 s)
			}
			rep := run(t, p)
			if tc.baselines {
				for _, sys := range []string{testnet.ResultPatchnet, testnet.ResultRawGossipsub, testnet.ResultHTTPOrigin} {
					if got := rep.Results[sys].Delivered; got != 1 {
						t.Errorf("%s delivered to %v of the agents, want all", sys, got)
					}
				}
			}
		})
	}
}

// TestPrivateZone: a private zone (pre-shared key) beside the public one
// on the same network, under the same root, over the tcp transport. The
// public agents have the private zone's first supernode as a bootstrap
// peer, yet each zone's agents install only their own zone's fix, no
// node of either zone has an event of the other's, and no connection
// crosses.
func TestPrivateZone(t *testing.T) {
	p := small(testnet.ScenarioPrivateZone)
	p.Baselines = true
	rep := run(t, p)
	if len(rep.Results) != 1 {
		t.Errorf("results %v: want patchnet's alone (a baseline of one zone's agents would stand for both)", slices.Collect(maps.Keys(rep.Results)))
	}
	for _, c := range []string{"public_installed", "private_installed", "public_never_saw_private", "private_never_saw_public", "no_peer_across_zones"} {
		if ok, found := rep.Checks[c]; !found || !ok {
			t.Errorf("check %s: %v (reported: %v)", c, ok, found)
		}
	}
	if len(rep.Samples) != p.Nodes {
		t.Errorf("%d samples, want one for each of the %d agents of both zones", len(rep.Samples), p.Nodes)
	}
}

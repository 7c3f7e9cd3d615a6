package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/testnet"
)

// testRunnerMode is the mode the command's tests register their runner
// under. It is a test seam: k8s runs on a cluster, through manifests and
// `testnet collect`, and registers no in-process runner, so taking its
// slot in this test binary displaces no real one. sim and netns do.
const testRunnerMode = testnet.ModeK8s

var (
	lastParamsMu sync.Mutex
	// lastParams are the parameters the test runner last ran with.
	lastParams testnet.Params
)

// registerTestRunner registers testReport as testRunnerMode's runner,
// once, and says whether the slot was free.
var registerTestRunner = sync.OnceValue(func() bool {
	if slices.Contains(testnet.Modes(), testRunnerMode) {
		return false
	}
	testnet.Register(testRunnerMode, func(_ context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
		lastParamsMu.Lock()
		lastParams = p
		lastParamsMu.Unlock()
		return testReport(p, progress), nil
	})
	return true
})

func useTestRunner(t *testing.T) {
	t.Helper()
	if !registerTestRunner() {
		t.Fatalf("a real %s runner is registered: move the command's test seam to a mode without one", testRunnerMode)
	}
}

// testReport is what a runner reports for p, from seeded delivery times
// through testnet.Summarize as the real runners do: every agent installs
// at a latency-sized number of hops plus jitter, raw gossipsub a little
// sooner, HTTP from the origin much later. The churn scenario's check
// fails, so the command's exit status can be tested.
func testReport(p testnet.Params, progress testnet.Progress) *testnet.Report {
	if progress != nil {
		for i := range p.Nodes + 1 {
			progress("starting", i, p.Nodes)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(p.Seed), 2))
	var pn, raw, http []time.Duration
	for range p.Nodes {
		hops := time.Duration(1 + rng.IntN(4))
		jitter := time.Duration(rng.Int64N(int64(5 * time.Millisecond)))
		pn = append(pn, hops*p.Latency+jitter+3*time.Millisecond)
		raw = append(raw, hops*p.Latency+jitter)
		http = append(http, p.Latency+time.Duration(rng.IntN(p.Nodes))*50*time.Millisecond)
		if progress != nil {
			progress("installed", len(pn), p.Nodes)
		}
	}
	r := &testnet.Report{
		Scenario: p.Scenario, Mode: p.Mode, Nodes: p.Nodes, Supernodes: p.Supernodes, Threshold: p.Threshold,
		LatencyMS: float64(p.Latency) / float64(time.Millisecond), BandwidthBPS: p.Bandwidth, ArtifactBytes: p.ArtifactBytes,
		Results:              map[string]testnet.Result{testnet.ResultPatchnet: testnet.Summarize(pn, p.Nodes)},
		Deliveries:           map[string][]float64{testnet.ResultPatchnet: msOf(pn)},
		DuplicatesPerMessage: 1.4, OriginEgressBytes: 2 * p.ArtifactBytes, PeerEgressBytes: int64(p.Nodes-2) * p.ArtifactBytes,
		MemoryPerNodeBytes: 4 << 20, SetupS: 1.5,
		Checks: map[string]bool{"all_installed": true},
	}
	if p.Baselines {
		r.Results[testnet.ResultRawGossipsub] = testnet.Summarize(raw, p.Nodes)
		r.Results[testnet.ResultHTTPOrigin] = testnet.Summarize(http, p.Nodes)
		r.Deliveries[testnet.ResultRawGossipsub], r.Deliveries[testnet.ResultHTTPOrigin] = msOf(raw), msOf(http)
		r.RawDuplicatesPerMessage, r.HTTPOriginEgressBytes = 3.1, int64(p.Nodes)*p.ArtifactBytes
	}
	if p.Scenario == testnet.ScenarioChurn {
		r.Checks["survivors_accepted"] = false
	}
	return r
}

func msOf(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// runTestnetCmd runs a fresh `patchnet testnet` with args, returning its
// standard output and error apart.
func runTestnetCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newTestnetCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// svgTexts parses svg as XML and returns the text of its text elements.
func svgTexts(t *testing.T, svg []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return texts
		}
		if err != nil {
			t.Fatalf("plot is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			inText = el.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(el)))
			}
		case xml.EndElement:
			inText = false
		}
	}
}

func TestTestnetCommand(t *testing.T) {
	useTestRunner(t)
	dir := t.TempDir()
	reportPath, plotPath := filepath.Join(dir, "run.json"), filepath.Join(dir, "run.svg")
	stdout, stderr, err := runTestnetCmd(t, "--mode", testRunnerMode, "--nodes", "20", "--supernodes", "4",
		"--threshold", "3", "--latency", "15ms", "--bandwidth", "10Mbit", "--origin-bandwidth", "1MiB/s",
		"--artifact-size", "2MiB", "--churn", "0.2", "--seed", "7", "--timeout", "30s", "--settle", "20s",
		"--rollout-spread", "45s", "--report", reportPath, "--plot", plotPath)
	if err != nil {
		t.Fatalf("testnet: %v\n%s%s", err, stdout, stderr)
	}
	want := testnet.Params{Mode: testRunnerMode, Scenario: testnet.ScenarioPropagation, Nodes: 20, Supernodes: 4,
		Threshold: 3, Latency: 15 * time.Millisecond, Bandwidth: 1_250_000, OriginBandwidth: 1 << 20,
		ArtifactBytes: 2 << 20, ChurnShare: 0.2, Seed: 7, Timeout: 30 * time.Second, Baselines: true, Settle: 20 * time.Second,
		RolloutSpread: 45 * time.Second}
	lastParamsMu.Lock()
	got := lastParams
	lastParamsMu.Unlock()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("params from flags (-want +got):\n%s", d)
	}
	// The progress bars counted the stages the runner reported.
	for _, s := range []string{"starting: 0/20", "installed: 20/20"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("progress lacks %q:\n%s", s, stderr)
		}
	}
	for _, s := range []string{"DELIVERY", "\npatchnet ", "\nraw gossipsub ", "\nHTTP from origin ",
		"Windows Update", "all_installed", "wrote " + reportPath, "wrote " + plotPath} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	f, err := os.Open(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := testnet.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	wantRep := testReport(want, nil)
	wantRep.Schema, wantRep.PullTimers = testnet.SchemaVersion, testnet.DefaultPullTimers()
	if d := cmp.Diff(wantRep, rep); d != "" {
		t.Errorf("written report (-want +got):\n%s", d)
	}
	svg, err := os.ReadFile(plotPath)
	if err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, svg)
	for _, s := range []string{"patchnet", "raw gossipsub", "HTTP from origin", "peers (patchnet)"} {
		if !slices.Contains(texts, s) {
			t.Errorf("plot has no text %q; it has %q", s, texts)
		}
	}
}

func TestTestnetNoBaselines(t *testing.T) {
	useTestRunner(t)
	stdout, _, err := runTestnetCmd(t, "--mode", testRunnerMode, "--nodes", "5", "--no-baselines")
	if err != nil {
		t.Fatalf("testnet: %v\n%s", err, stdout)
	}
	lastParamsMu.Lock()
	baselines := lastParams.Baselines
	lastParamsMu.Unlock()
	if baselines {
		t.Error("--no-baselines: the runner was asked for baselines")
	}
	if strings.Contains(stdout, "raw gossipsub") || strings.Contains(stdout, "HTTP") {
		t.Errorf("a baseline that did not run is in the table:\n%s", stdout)
	}
}

// TestTestnetFailedCheckExitsNonZero runs the whole CLI, as main does: a
// scenario whose check fails exits 1 naming it, after printing the table
// and writing the report that shows it.
func TestTestnetFailedCheckExitsNonZero(t *testing.T) {
	useTestRunner(t)
	reportPath := filepath.Join(t.TempDir(), "churn.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"testnet", "--mode", testRunnerMode, "--scenario", "churn", "--nodes", "6",
		"--report", reportPath}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "1 of 2 checks failed: survivors_accepted") {
		t.Fatalf("exit %d, stderr %q: want non-zero naming survivors_accepted", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "FAILED") {
		t.Errorf("the table does not show the failed check:\n%s", stdout.String())
	}
	data, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatalf("no report for a run whose check failed: %v", err)
	}
	rep, err := testnet.ReadReport(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"survivors_accepted"}, rep.FailedChecks()); d != "" {
		t.Errorf("failed checks in the report (-want +got):\n%s", d)
	}
}

func TestTestnetRejectsBadFlags(t *testing.T) {
	useTestRunner(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bandwidth", "10Mbps"}, `--bandwidth "10Mbps": unit "Mbps" unknown`},
		{[]string{"--origin-bandwidth", "fast"}, `--origin-bandwidth "fast"`},
		{[]string{"--artifact-size", "1MiB/s"}, `--artifact-size "1MiB/s"`},
		{[]string{"--artifact-size", "0"}, "artifact bytes 0"},
		{[]string{"--nodes", "0"}, "nodes 0"},
		{[]string{"--mode", "vm"}, `mode "vm"`},
		{[]string{"--scenario", "nope"}, `scenario "nope"`},
		{[]string{"--threshold", "4", "--supernodes", "3"}, "threshold 4"},
		{[]string{"--churn", "1"}, "churn share 1"},
		{[]string{"--churn", "NaN"}, "churn share NaN"},
		{[]string{"--loss", "60%"}, "loss 0.6: want 0..0.5"},
		{[]string{"--loss", "lots"}, `--loss "lots"`},
		{[]string{"rendr"}, `unknown command "rendr"`},
	} {
		_, _, err := runTestnetCmd(t, append([]string{"--mode", testRunnerMode}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("testnet %v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}

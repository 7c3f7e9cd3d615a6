package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/testnet"

	// The modes register their runners with testnet.Register from init;
	// importing them here makes `patchnet testnet --mode …` find them.
	"github.com/patchnet/patchnet/testnet/netns"
	"github.com/patchnet/patchnet/testnet/sim"
)

// testnetCmd is `patchnet testnet`. It is a package variable, set before
// any init runs, so that other files add its subcommands from their own
// init with testnetCmd.AddCommand: `testnet render --k8s` and `testnet
// collect` belong to the k8s mode's file. The modes themselves register
// through the blank imports of testnet_modes.go.
var testnetCmd = newTestnetCmd()

func init() { rootCmd.AddCommand(testnetCmd) }

// testnetOptions are the flags of `patchnet testnet`: the run's parameters,
// sizes still as typed, and where to write the outputs.
type testnetOptions struct {
	params                                  testnet.Params
	bandwidth, originBandwidth, artifactLen string
	loss                                    string
	noBaselines                             bool
	report, plot                            string
}

func newTestnetCmd() *cobra.Command {
	o := testnetOptions{params: testnet.DefaultParams()}
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Run a zone as a test network and measure it beside gossipsub and HTTP baselines",
		Long: `testnet runs a whole zone — a publisher, supernodes and agents, each a full
node — publishes an update into it and measures how it spreads, beside the
baselines measured on the same nodes and links in the same run: raw
gossipsub (the floor patchnet's checks add to) and every agent fetching
from the vendor's origin over HTTP.

--mode sim runs the nodes in this process over a simulated network (no
privileges, up to thousands of nodes); --mode netns runs real patchnet
processes, each in its own network namespace on shaped links (root).

A bar per stage counts nodes while they start and while the update
propagates; then a table prints the delivery percentiles per system and
per stage, egress of the origin and the peers, duplicates, memory, the
scenario's checks, and the time to patch beside the pull timers of apt,
Windows Update and rhnsd. --report writes the JSON (testnet/SCHEMA.md),
--plot an SVG of the delivery CDF and the egress. The exit status is
non-zero when a check fails.

Scenarios: ` + strings.Join(testnet.Scenarios, ", ") + `.
sim runs ` + strings.Join(sim.Scenarios(), ", ") + `;
netns runs ` + strings.Join(netns.Scenarios(), ", ") + `.`,
		Example: `  patchnet testnet
  patchnet testnet --nodes 1000 --supernodes 5 --threshold 3 --latency 40ms --bandwidth 10Mbit
  patchnet testnet --scenario churn --churn 0.3 --report churn.json --plot churn.svg
  sudo patchnet testnet --mode netns --nodes 50 --artifact-size 20MiB --origin-bandwidth 100Mbit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTestnet(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	p := &o.params
	f := cmd.Flags()
	f.StringVar(&p.Mode, "mode", p.Mode, "how to run the zone: sim (in this process) or netns (processes in network namespaces)")
	f.StringVar(&p.Scenario, "scenario", p.Scenario, "scenario to run: "+strings.Join(testnet.Scenarios, ", "))
	f.IntVar(&p.Nodes, "nodes", p.Nodes, "agents (supernodes and the publisher come on top)")
	f.IntVar(&p.Supernodes, "supernodes", p.Supernodes, "supernodes that verify and co-sign")
	f.IntVar(&p.Threshold, "threshold", p.Threshold, "distinct supernode co-signatures an agent requires (k)")
	f.DurationVar(&p.Latency, "latency", p.Latency, "one-way delay of every link")
	f.DurationVar(&p.Jitter, "jitter", p.Jitter, "each packet's further delay, uniform up to this, without reordering (0: none)")
	f.StringVar(&o.loss, "loss", "0", "share of the packets each node receives that its link drops, e.g. 1% (sim, netns)")
	f.StringVar(&o.bandwidth, "bandwidth", "0", "every node's link, e.g. 10Mbit or 1MiB/s (0: uncapped)")
	f.StringVar(&o.originBandwidth, "origin-bandwidth", "0", "the origins' links: the vendor's HTTP origin and the publisher, which seeds the artifact (0: as --bandwidth)")
	f.StringVar(&o.artifactLen, "artifact-size", "1MiB", "size of the published artifact, e.g. 1MiB or 500kB")
	f.Float64Var(&p.ChurnShare, "churn", p.ChurnShare, "share of agents the churn scenario kills (0 ≤ share < 1)")
	f.Int64Var(&p.Seed, "seed", p.Seed, "seed of topology and choices, for a repeatable run")
	f.StringVar(&p.Transport, "transport", p.Transport, "what a sim zone's nodes connect over: quic, or tcp (libp2p's TLS and yamux on simulated streams: lighter, and a private zone's); default quic, tcp for private-zone")
	f.DurationVar(&p.Timeout, "timeout", p.Timeout, "bound on the run once the nodes are up (netns: and on the zone's forming before)")
	f.DurationVar(&p.RolloutSpread, "rollout-spread", p.RolloutSpread, "the fix's rollout spread: agents accept at once, then fetch and install each at its own offset within it (sim, netns)")
	f.DurationVar(&p.Settle, "settle", p.Settle, "longest wait, once the zone is up, for its CPU use to stop falling before publication (sim; 0: publish at once)")
	f.BoolVar(&o.noBaselines, "no-baselines", false, "measure patchnet alone, without the raw gossipsub and HTTP baselines")
	f.StringVar(&o.report, "report", "", "write the report as JSON to `FILE` (see testnet/SCHEMA.md)")
	f.StringVar(&o.plot, "plot", "", "write the delivery CDF and egress plots as SVG to `FILE`")
	return cmd
}

// runParams completes the parameters with the flags that need parsing.
func (o testnetOptions) runParams() (testnet.Params, error) {
	p := o.params
	var err error
	if p.Bandwidth, err = parseBytes("bandwidth", o.bandwidth, true); err != nil {
		return p, err
	}
	if p.OriginBandwidth, err = parseBytes("origin-bandwidth", o.originBandwidth, true); err != nil {
		return p, err
	}
	if p.ArtifactBytes, err = parseBytes("artifact-size", o.artifactLen, false); err != nil {
		return p, err
	}
	if p.Loss, err = parseShare("loss", o.loss); err != nil {
		return p, err
	}
	p.Baselines = !o.noBaselines
	return p, p.Validate()
}

// runTestnet runs the scenario with progress on stderr, then prints the
// report's table on stdout and writes the report and plot files. A failed
// check is an error, after everything is written.
func runTestnet(ctx context.Context, stdout, stderr io.Writer, o testnetOptions) error {
	p, err := o.runParams()
	if err != nil {
		return err
	}
	bars := newStageBars(stderr)
	rep, err := testnet.Run(ctx, p, bars.update)
	bars.finish()
	if err == nil && rep == nil {
		err = fmt.Errorf("the %s runner returned no report", p.Mode)
	}
	if err != nil {
		return fmt.Errorf("running scenario %s in %s mode: %w", p.Scenario, p.Mode, err)
	}
	if rep.PullTimers == nil {
		rep.PullTimers = testnet.DefaultPullTimers()
	}
	if err := testnet.WriteTable(stdout, rep); err != nil {
		return err
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer, *testnet.Report) error
	}{{o.report, testnet.WriteJSON}, {o.plot, testnet.WritePlots}} {
		if out.path == "" {
			continue
		}
		if err := writeReportFile(out.path, rep, out.write); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", out.path)
	}
	return checksFailed(rep)
}

// writeReportFile writes rep to path (atomically) as write renders it:
// the JSON or the plots.
func writeReportFile(path string, rep *testnet.Report, write func(io.Writer, *testnet.Report) error) error {
	var buf bytes.Buffer
	if err := write(&buf, rep); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// checksFailed is an error naming rep's failed checks, nil when all held.
func checksFailed(rep *testnet.Report) error {
	if failed := rep.FailedChecks(); len(failed) > 0 {
		return fmt.Errorf("%d of %d checks failed: %s", len(failed), len(rep.Checks), strings.Join(failed, ", "))
	}
	return nil
}

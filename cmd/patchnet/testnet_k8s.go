package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/k8s"
	"github.com/patchnet/patchnet/trust"
)

// init attaches render, collect and the pods' helper commands to
// `patchnet testnet`, made here (hidden) when no file made it first.
func init() {
	testnetCmd.AddCommand(append([]*cobra.Command{newTestnetRenderCmd(), newTestnetCollectCmd()}, newTestnetPodCmds()...)...)
}

// findCommand is c's subcommand called name, or nil.
func findCommand(c *cobra.Command, name string) *cobra.Command {
	for _, sub := range c.Commands() {
		if sub.Name() == name {
			return sub
		}
	}
	return nil
}

// defaultImage is the image render puts in the manifests: this build's
// version, as dist/Dockerfile builds and CI would push it.
func defaultImage() string { return "ghcr.io/patchnet/patchnet:" + buildVersion() }

// newTestnetRenderCmd builds `patchnet testnet render --k8s`.
func newTestnetRenderCmd() *cobra.Command {
	s := k8s.DefaultSpec()
	var toK8s, force, noBaselines bool
	var out, artifactSize, bandwidth, originBandwidth, loss string
	cmd := &cobra.Command{
		Use:   "render --k8s [--out FILE] [--nodes N] [--supernodes N] [--threshold K]",
		Short: "Write the Kubernetes manifests that run a test zone of the same binary on a cluster",
		Long: `render --k8s makes a test zone as an operator would — a root and zone CA, a key
and certificate per node, configs from 'patchnet init', a pre-shared key with
--private — and writes one multi-document YAML for 'kubectl apply -f': a
Namespace; a Secret per node (its key and certificate only) and for the PSK;
ConfigMaps for the public PKI, the vendor's packages and key, and each
supernode's and the publisher's config; a one-replica StatefulSet per
supernode and per agent behind the headless Services 'supernodes' and
'agents'; a vendor origin Deployment and Service; and the publisher Job,
which publishes the fix --update-id once k supernodes co-sign it. With
--scenario the zone plays churn, stolen-key, late-join, byzantine,
revocation, flood, content, private-zone or partition as netns and sim do, the crash, attack or
hold-back written into the pods' and the Jobs' containers; collect takes
the same --scenario and adds its checks. The fix (padded with
--artifact-size) is not in the YAML: the vendor's and the publisher's
pods rebuild it and check the digest render signed, so run the image of
this version.

Propagation and content also run the HTTP-origin and raw gossipsub
baselines, as netns does (--no-baselines leaves them out): once every
agent installed the fix, a container in each agent's pod downloads it from
the vendor origin over HTTP, all released at the same moment by the
origin, under the same shaping; then a container in each supernode's and
agent's pod runs a plain gossipsub peer, connected as its node is, and the
origin publishes three messages through them. collect waits for both and
reports them beside patchnet.

Agents run the image's dpkg into a sandbox root with the old package
installed, and write their config in the pod with 'patchnet init agent',
which pins the image's own installer binaries. Every node pod runs a
read-only API proxy on port 9090 for 'patchnet testnet collect'.

The keys are made here and written into the YAML: keep the file as secret
as the zone, and delete the namespace when done.`,
		Example: `  patchnet testnet render --k8s --nodes 50 --out zone.yaml
  kubectl apply -f zone.yaml
  patchnet testnet render --k8s --private --image patchnet:dev --namespace lab --out lab.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !toK8s {
				return errors.New("render: --k8s is required (Kubernetes manifests are the one target)")
			}
			s.Configure = testnetConfig
			s.HTTPBaseline = !noBaselines
			var err error
			if s.ArtifactBytes, err = parseBytes("artifact-size", artifactSize, false); err != nil {
				return err
			}
			if s.Scenario == testnet.ScenarioContent && !cmd.Flags().Changed("artifact-size") {
				s.ArtifactBytes = k8s.ContentArtifactBytes
			}
			if s.Shaping, err = renderShaping(s.Shaping.Latency, s.Shaping.Jitter, bandwidth, originBandwidth, loss); err != nil {
				return err
			}
			return runRender(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), s, out, force)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&toK8s, "k8s", false, "write Kubernetes manifests (required)")
	f.StringVar(&out, "out", "", "file to write the YAML to (default: standard output); never overwritten without --force")
	f.BoolVar(&force, "force", false, "overwrite --out if it exists")
	f.BoolVar(&noBaselines, "no-baselines", false, "leave out the baselines (propagation and content: once every agent installed, each downloads the fix from the vendor origin at once, then raw gossipsub peers beside the nodes carry three messages)")
	f.StringVar(&s.Namespace, "namespace", s.Namespace, "namespace of every object")
	f.StringVar(&s.Image, "image", defaultImage(), "image of every container: patchnet on a Debian base (dist/Dockerfile)")
	f.StringVar(&s.Zone, "zone", s.Zone, "zone name")
	f.IntVar(&s.Agents, "nodes", s.Agents, fmt.Sprintf("agents (at most %d)", k8s.MaxAgents))
	f.IntVar(&s.Supernodes, "supernodes", s.Supernodes, fmt.Sprintf("supernodes (at most %d)", k8s.MaxSupernodes))
	f.IntVar(&s.Threshold, "threshold", s.Threshold, "k: distinct supernode co-signatures an agent requires")
	f.BoolVar(&s.Private, "private", s.Private, "a private zone: a pre-shared key (Secret psk) wraps every connection")
	f.StringVar(&s.ClusterDomain, "cluster-domain", s.ClusterDomain, "the cluster's DNS domain")
	f.StringVar(&s.UpdateID, "update-id", s.UpdateID, "id of the fix the publisher Job publishes")
	f.DurationVar(&s.RolloutSpread, "rollout-spread", 0, "the fix's rollout spread: agents accept at once, then install each at its own offset within it")
	f.StringVar(&artifactSize, "artifact-size", "0", fmt.Sprintf("bytes of filler the fix carries, such as 64MiB (0: the lab's own fix, under a KiB; default %dMiB with --scenario content)",
		k8s.ContentArtifactBytes>>20))
	f.StringVar(&bandwidth, "bandwidth", "0", "cap on what each pod sends, e.g. 10Mbit, shaped in the pod (0: none; needs CAP_NET_ADMIN for the shaping container)")
	f.StringVar(&originBandwidth, "origin-bandwidth", "0", "the vendor origin's and the publisher's cap (0: as --bandwidth)")
	f.StringVar(&loss, "loss", "0", "share of what each pod receives that is dropped, e.g. 1%")
	f.DurationVar(&s.Shaping.Latency, "latency", 0, "delay of what each pod receives (a sidecar delays its packets)")
	f.DurationVar(&s.Shaping.Jitter, "jitter", 0, "each packet a pod receives delayed a further uniform share of this, without reordering")
	f.DurationVar(&s.PartitionHold, "partition-hold", s.PartitionHold, "with --scenario partition: how long the cut lasts from the cut pods' start (past their heartbeat alarm, about 4 minutes, and the connected side's installs)")
	f.Float64Var(&s.ChurnShare, "churn", s.ChurnShare, "with --scenario churn: the share of agents killed as the fix reaches them (half of them restarted)")
	f.StringVar(&s.Scenario, "scenario", s.Scenario, "what the zone plays: "+strings.Join(k8s.Scenarios, ", ")+
		" (stolen-key: a thief publishes the old package as a fix with the publisher's key first; late-join: the last fifth of the agents start once the fix is co-signed;"+
		" byzantine: the last supernode's key co-signs a conflicting payload first; revocation: a CRL revoking the last supernode goes out first;"+
		" churn: --churn of the agents SIGKILLed as the fix reaches them, half started again;"+
		" flood: two peers outside the PKI forge and replay next to the first agents; public zones only;"+
		" content: a fix of --artifact-size, judged by what the vendor's origin and the publisher served;"+
		" private-zone: a private zone acme beside this public one, the agents split between them;"+
		" partition: the second half of the agents and the supernodes past k cut off for --partition-hold, then healed)")
	return cmd
}

// renderShaping is render's shaping flags as a k8s.Shaping.
func renderShaping(latency, jitter time.Duration, bandwidth, originBandwidth, loss string) (k8s.Shaping, error) {
	sh := k8s.Shaping{Latency: latency, Jitter: jitter}
	var err error
	if sh.Bandwidth, err = parseBytes("bandwidth", bandwidth, true); err != nil {
		return sh, err
	}
	if sh.OriginBandwidth, err = parseBytes("origin-bandwidth", originBandwidth, true); err != nil {
		return sh, err
	}
	sh.Loss, err = parseShare("loss", loss)
	return sh, err
}

// testnetConfig renders a supernode's or the publisher's config as
// `patchnet init ROLE` would with args.
func testnetConfig(role trust.Role, a k8s.InitArgs) ([]byte, error) {
	o := initOptions{role: role, state: a.State, zone: a.Zone, roots: a.Roots, crls: a.CRLs, listen: a.Listen,
		bootstrap: a.Bootstrap, threshold: a.Threshold, thresholdSet: true, pskFile: a.PSKFile, sysroot: a.Sysroot,
		vendorOrigins: a.VendorOrigins, vendorKeys: a.VendorKeys}
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	if m := missingKeys(cfg); len(m) > 0 {
		return nil, fmt.Errorf("%s config lacks %s: %s", role, m[0].key, m[0].why)
	}
	// Checked by k8s.Build against the files the pods will have: the
	// vendor key and PSK named here exist only there.
	data, err := renderConfig(role, cfg, nil)
	if err != nil {
		return nil, err
	}
	if _, err := node.DecodeConfig(data); err != nil {
		return nil, fmt.Errorf("checking the rendered config: %w", err)
	}
	return data, nil
}

// runRender makes the zone in a scratch directory, builds the manifests
// and writes them, with progress and a summary on stderr.
func runRender(ctx context.Context, stdout, stderr io.Writer, s k8s.Spec, out string, force bool) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if out != "" && !force {
		if err := refuseExisting(out, "--force overwrites it"); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "patchnet-render-")
	if err != nil {
		return fmt.Errorf("making a scratch directory: %w", err)
	}
	defer os.RemoveAll(dir) // the CA keys go with it: the cluster needs none
	start := time.Now()
	r, err := k8s.Render(ctx, dir, s, func(done, total int) {
		if done == total || done%50 == 0 {
			fmt.Fprintf(stderr, "issued %d/%d node certificates\n", done, total)
		}
	})
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	objs, z := r.Objects, r.Zones[0]
	data, err := k8s.Encode(objs)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if err := writeTestnetFile(stdout, out, force, data, 0o600, "the manifests"); err != nil { // it holds every node's key
		return err
	}
	where := "standard output"
	if out != "" {
		where = out
	}
	for _, zs := range r.Specs {
		fmt.Fprintf(stderr, "zone %s: %d supernodes, k=%d, %d agents, publishing %s\n", zs.Zone, zs.Supernodes, zs.Threshold, zs.Agents, zs.UpdateID)
		if zs.RunsHTTPBaseline() {
			fmt.Fprintf(stderr, "then the HTTP baseline: each of the %d agents downloads the fix from the vendor origin once all installed it\n", zs.Agents)
			fmt.Fprintf(stderr, "then the raw gossipsub baseline: %d plain gossipsub peers, one beside each node, connected as the nodes are\n", zs.Agents+zs.Supernodes)
		}
	}
	fmt.Fprintf(stderr, "wrote %d objects in namespace %s to %s in %v\n",
		len(objs), s.Namespace, where, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stderr, "the file holds every node's key: keep it secret. Next: kubectl apply -f FILE; then collect with\n  %s > report.json\n  patchnet testnet show report.json --plot report.svg\n",
		collectCommand(s, z))
	return nil
}

// collectCommand is the `kubectl run … testnet collect` that reads the
// zone s rendered (z its first zone's material), with every flag its
// scenario's checks need. Both quiet: when the pod ends before kubectl
// attaches, kubectl hands its logs over, stderr and stdout in one
// stream, on its stdout; the table is `testnet show`'s.
func collectCommand(s k8s.Spec, z *k8s.Zone) string {
	cmd := fmt.Sprintf("kubectl -n %s run collect -q --rm -i --restart=Never --image %s -- testnet collect --quiet --k8s-namespace %s --nodes %d --supernodes %d --threshold %d --update-id %s --artifact-sha256 %x --artifact-size %d",
		s.Namespace, s.Image, s.Namespace, s.Agents, s.Supernodes, s.Threshold, s.UpdateID, z.NewDebSHA256, z.NewDebSize)
	if s.RolloutSpread > 0 {
		cmd += " --rollout-spread " + s.RolloutSpread.String()
	}
	if s.Scenario != testnet.ScenarioPropagation {
		cmd += " --scenario " + s.Scenario
	}
	until := collectUntilOKDefault // installs after the Job: a spread, late joiners, restarts
	if s.Scenario == testnet.ScenarioPartition {
		until += s.PartitionHold // the cut side installs after the heal
	}
	cmd += " --until-ok " + until.String()
	sh := s.Shaping // for the report
	if sh.Latency > 0 {
		cmd += " --latency " + sh.Latency.String()
	}
	if sh.Jitter > 0 {
		cmd += " --jitter " + sh.Jitter.String()
	}
	if sh.Bandwidth > 0 {
		cmd += fmt.Sprintf(" --bandwidth %dB", sh.Bandwidth)
	}
	if sh.Loss > 0 {
		cmd += " --loss " + strconv.FormatFloat(sh.Loss, 'f', -1, 64)
	}
	switch s.Scenario {
	case testnet.ScenarioRevocation:
		cmd += " --revoked-peer " + z.Supernodes[len(z.Supernodes)-1].PeerID
	case testnet.ScenarioChurn:
		cmd += fmt.Sprintf(" --churn %v", s.ChurnShare)
	}
	return cmd
}

// collectOptions are the flags of `patchnet testnet collect`.
type collectOptions struct {
	endpoints, late        []string
	restarted, flooded     []string
	cut                    []string
	churn                  float64
	namespace, domain, out string
	agents, supernodes     int
	published, artifactLen string
	bandwidth, loss        string
	plot                   string
	quiet                  bool
	untilOK                time.Duration
	k8s.CollectOptions
}

// newTestnetCollectCmd builds `patchnet testnet collect`.
func newTestnetCollectCmd() *cobra.Command {
	o := collectOptions{CollectOptions: k8s.CollectOptions{UpdateID: k8s.DefaultSpec().UpdateID, Threshold: k8s.DefaultSpec().Threshold}}
	cmd := &cobra.Command{
		Use:   "collect (--endpoint URL|STATE... | --k8s-namespace NS --nodes N --supernodes N)",
		Short: "Gather the nodes' reports through their local API into one testnet report",
		Long: `collect reads GET /v1/status and /v1/history of every node given and writes the
run's report (the testnet JSON): per agent, the time from publication of
--update-id to its receipt, acceptance and install, from its lifecycle
events and install journal, and their percentiles.

An endpoint is a node's state directory (its unix socket, on this host) or
the URL of the read-only API proxy a rendered pod runs on port 9090. With
--k8s-namespace the endpoints are the rendered zone's pods by DNS name: run
collect inside the cluster (kubectl run, as render prints). Publication is
--published, or else the first event about the update on any node read.
Node clocks are compared: keep them in sync. The report goes to stdout (or
--out), the table that 'patchnet testnet' prints to stderr, plots to
--plot; collect exits non-zero when a check failed, after writing them.`,
		Example: `  patchnet testnet collect --k8s-namespace patchnet-testnet --nodes 50 --supernodes 3 > report.json
  patchnet testnet collect --endpoint /var/lib/patchnet --endpoint http://127.0.0.1:9090 --update-id DSA-5999-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCollect(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.endpoints, "endpoint", nil, "a node's state directory or API proxy URL (repeatable)")
	f.Float64Var(&o.churn, "churn", k8s.DefaultSpec().ChurnShare, "with --scenario churn and --k8s-namespace: the share render was given")
	f.StringArrayVar(&o.restarted, "restarted-endpoint", nil, "with --scenario churn: an agent killed and started again, also given as --endpoint (with --k8s-namespace they are known)")
	f.StringArrayVar(&o.flooded, "flood-target-endpoint", nil, "with --scenario flood: an agent the flooding peers connected to, also given as --endpoint (with --k8s-namespace they are known)")
	f.StringArrayVar(&o.cut, "cut-endpoint", nil, "with --scenario partition: an agent of the cut side, also given as --endpoint (with --k8s-namespace they are known)")
	f.StringVar(&o.RevokedPeer, "revoked-peer", "", "with --scenario revocation: the revoked supernode's peer ID (render prints it)")
	f.StringArrayVar(&o.late, "late-endpoint", nil, "with --scenario late-join: a late agent's endpoint, also given as --endpoint (with --k8s-namespace they are known)")
	f.StringVar(&o.namespace, "k8s-namespace", "", "read the zone rendered into this namespace, by its pods' DNS names")
	f.StringVar(&o.domain, "cluster-domain", k8s.DefaultSpec().ClusterDomain, "the cluster's DNS domain (with --k8s-namespace)")
	f.IntVar(&o.agents, "nodes", 0, "agents of the rendered zone (with --k8s-namespace; also the total the delivery share is of)")
	f.IntVar(&o.supernodes, "supernodes", 0, "supernodes of the rendered zone (with --k8s-namespace)")
	f.IntVar(&o.Threshold, "threshold", o.Threshold, "the zone's k, for the report")
	f.StringVar(&o.Scenario, "scenario", testnet.ScenarioPropagation, "the scenario the zone was rendered with (render --scenario): adds its checks")
	f.StringVar(&o.UpdateID, "update-id", o.UpdateID, "the update whose propagation is measured")
	f.StringVar(&o.ArtifactSHA256, "artifact-sha256", "", "its artifact's SHA-256 as published (render prints it): an agent that installed another is a wrong install")
	f.StringVar(&o.Origin, "origin", "", "the vendor origin's URL, whose served bytes count as origin egress (with --k8s-namespace: the rendered one's)")
	f.DurationVar(&o.BaselineWait, "baseline-wait", k8s.BaselineCollectWait, "how long to wait for the origin's HTTP baseline (it starts once every agent installed) before reading the nodes; 0: do not read it")
	f.StringVar(&o.artifactLen, "artifact-size", "0", "the artifact's size as published, for the report and the content scenario's bound (render prints it)")
	f.StringVar(&o.published, "published", "", "publication time, RFC 3339 (default: the first event about the update)")
	f.DurationVar(&o.RolloutSpread, "rollout-spread", 0, "the fix's rollout spread as rendered, for the report")
	f.DurationVar(&o.Shaping.Latency, "latency", 0, "the pods' latency as rendered, for the report")
	f.DurationVar(&o.Shaping.Jitter, "jitter", 0, "the pods' jitter as rendered, for the report")
	f.StringVar(&o.bandwidth, "bandwidth", "0", "the pods' bandwidth as rendered, for the report")
	f.StringVar(&o.loss, "loss", "0", "the pods' loss as rendered, for the report")
	f.StringVar(&o.out, "out", "", "file to write the report to (default: standard output)")
	f.StringVar(&o.plot, "plot", "", "file to write the plots to (SVG: delivery CDF, origin against peer egress)")
	f.DurationVar(&o.untilOK, "until-ok", 0, "collect again every 10 s while a check fails, for up to this long (the zone may still be installing when its Job ends); 0: once")
	f.BoolVar(&o.quiet, "quiet", false, "write the report alone, nothing on stderr (no progress, no table, no node's error; 'patchnet testnet show' prints the table): for `kubectl run -i`, which may hand a pod's stderr over on its stdout")
	return cmd
}

// runCollect reads the nodes and writes the report as JSON.
func runCollect(ctx context.Context, stdout, stderr io.Writer, o collectOptions) error {
	eps, err := o.targets()
	if err != nil {
		return err
	}
	if o.published != "" {
		if o.Published, err = time.Parse(time.RFC3339Nano, o.published); err != nil {
			return fmt.Errorf("--published %q: want RFC 3339 (2026-01-02T15:04:05Z): %w", o.published, err)
		}
	}
	if o.ArtifactBytes, err = parseBytes("artifact-size", o.artifactLen, false); err != nil {
		return err
	}
	if o.Shaping, err = renderShaping(o.Shaping.Latency, o.Shaping.Jitter, o.bandwidth, "0", o.loss); err != nil {
		return err
	}
	if o.namespace != "" && o.Origin == "" {
		o.Origin = o.spec().OriginURL()
	}
	o.Agents = o.agents
	o.Late = o.lateTargets()
	o.Restarted = o.restartedTargets()
	o.FloodTargets = o.agentsWhere(testnet.ScenarioFlood, o.flooded, k8s.Spec.FloodTarget)
	o.Cut = o.agentsWhere(testnet.ScenarioPartition, o.cut, k8s.Spec.CutAgent)
	if o.namespace != "" && o.Scenario == testnet.ScenarioChurn {
		o.Agents -= o.spec().Left(k8s.ChurnStayDown) // left down: not read, not expected
	}
	if o.quiet {
		stderr = io.Discard
	}
	o.OnError = func(ep string, err error) { fmt.Fprintf(stderr, "%s: %v\n", ep, err) }
	said := ""
	o.BaselineProgress = func(s k8s.BaselineState) {
		line := fmt.Sprintf("HTTP baseline: %d/%d agents at the origin's barrier, %d downloads done", s.Registered, s.Expected, len(s.Results))
		if s.Expected > 0 && line != said {
			fmt.Fprintln(stderr, line)
			said = line
		}
	}
	o.RawProgress = func(s k8s.RawState) {
		line := fmt.Sprintf("raw gossipsub baseline: %d/%d peers registered, started %v, done %v", s.Registered, s.Expected, !s.Started.IsZero(), s.Done)
		if s.Expected > 0 && line != said {
			fmt.Fprintln(stderr, line)
			said = line
		}
	}
	o.Progress = func(_ string, done, total int) {
		if done == total || done%50 == 0 {
			fmt.Fprintf(stderr, "read %d/%d nodes\n", done, total)
		}
	}
	rep, err := collectUntilOK(ctx, stderr, eps, o)
	if err != nil {
		return err
	}
	rep.PullTimers = testnet.DefaultPullTimers()
	if err := writeCollected(stdout, stderr, o, rep); err != nil {
		return err
	}
	err = checksFailed(rep)
	if err != nil && o.quiet { // in the report; stderr stays clear
		return &quietFailure{err: err}
	}
	return err
}

// collectUntilOK collects, and again every collectRetry while a check
// fails, until o.untilOK has passed since the first: a zone whose Job
// ended may still be installing (a rollout spread, late joiners,
// restarted agents, a partition not healed yet, flooders not yet
// graylisted). It returns the last report.
func collectUntilOK(ctx context.Context, stderr io.Writer, eps []string, o collectOptions) (*testnet.Report, error) {
	deadline := time.Now().Add(o.untilOK)
	for {
		rep, err := k8s.Collect(ctx, eps, o.CollectOptions)
		if err != nil || len(rep.FailedChecks()) == 0 || time.Now().Add(collectRetry).After(deadline) {
			return rep, err
		}
		fmt.Fprintf(stderr, "checks failing so far: %s; collecting again in %v\n", strings.Join(rep.FailedChecks(), ", "), collectRetry)
		if duration.Sleep(ctx, collectRetry) != nil {
			return rep, nil
		}
	}
}

// collectRetry is how soon collect --until-ok reads the zone again;
// collectUntilOKDefault is the --until-ok render prints (beyond a
// partition's hold).
const (
	collectRetry          = 10 * time.Second
	collectUntilOKDefault = 10 * time.Minute
)

// writeCollected writes the report to stdout or --out, the plots to
// --plot and the table to stderr (stdout is the report's unless --out).
func writeCollected(stdout, stderr io.Writer, o collectOptions, rep *testnet.Report) error {
	var data bytes.Buffer
	if err := testnet.WriteJSON(&data, rep); err != nil {
		return err
	}
	if err := writeTestnetFile(stdout, o.out, true, data.Bytes(), 0o644, "the report"); err != nil {
		return err
	}
	if o.plot != "" {
		if err := writeReportFile(o.plot, rep, testnet.WritePlots); err != nil {
			return err
		}
	}
	return testnet.WriteTable(stderr, rep)
}

// targets are the endpoints the flags name.
func (o collectOptions) targets() ([]string, error) {
	switch {
	case o.namespace == "" && len(o.endpoints) == 0:
		return nil, errors.New("collect: give --endpoint, or --k8s-namespace with --nodes and --supernodes")
	case o.namespace == "":
		return o.endpoints, nil
	case o.agents < 1:
		return nil, fmt.Errorf("collect: --nodes %d: with --k8s-namespace, give the rendered zone's agents", o.agents)
	}
	eps := append([]string{}, o.endpoints...)
	for _, s := range o.spec().Zones() { // private-zone: the private zone's too
		for i := range s.Supernodes {
			eps = append(eps, s.SupernodeAPI(i))
		}
		for i := range s.Agents {
			if s.Churn(i) != k8s.ChurnStayDown { // left down by churn: nothing to read
				eps = append(eps, s.AgentAPI(i))
			}
		}
	}
	return eps, nil
}

// lateTargets are the late-join scenario's late agents: those given, or
// with --k8s-namespace the ones render held back.
func (o collectOptions) lateTargets() []string {
	return o.agentsWhere(testnet.ScenarioLateJoin, o.late, k8s.Spec.Late)
}

// restartedTargets are the churn scenario's agents killed and started
// again: those given, or with --k8s-namespace the ones render churned.
func (o collectOptions) restartedTargets() []string {
	return o.agentsWhere(testnet.ScenarioChurn, o.restarted, func(s k8s.Spec, i int) bool { return s.Churn(i) == k8s.ChurnRestart })
}

// agentsWhere are the endpoints given, and in scenario with
// --k8s-namespace those of the rendered agents for which is holds.
func (o collectOptions) agentsWhere(scenario string, given []string, is func(k8s.Spec, int) bool) []string {
	if o.namespace == "" || o.Scenario != scenario {
		return given
	}
	s := o.spec()
	out := slices.Clone(given)
	for i := range o.agents {
		if is(s, i) {
			out = append(out, s.AgentAPI(i))
		}
	}
	return out
}

// spec is the rendered zone's spec as far as collect's flags tell it.
func (o collectOptions) spec() k8s.Spec {
	s := k8s.DefaultSpec()
	s.Namespace, s.ClusterDomain, s.Agents, s.Supernodes, s.Scenario = o.namespace, o.domain, o.agents, o.supernodes, o.Scenario
	s.ChurnShare = o.churn
	return s
}

// writeTestnetFile writes data, what it is, to the file out (mode; never over
// an existing file without force) or to w when out is "".
func writeTestnetFile(w io.Writer, out string, force bool, data []byte, mode os.FileMode, what string) error {
	var err error
	switch {
	case out == "":
		_, err = w.Write(data)
	case force:
		err = fsutil.WriteFileAtomic(out, data, mode)
	default:
		err = fsutil.WriteFileExclusive(out, data, mode)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	return nil
}

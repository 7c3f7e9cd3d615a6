package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/sim"
	"github.com/patchnet/patchnet/updates"
)

const (
	// demoMaxAgents and demoMaxSupernodes bound the demo's zone: every
	// agent is a sandbox root dpkg installs into, on this machine.
	demoMaxAgents, demoMaxSupernodes = 200, 32
	// demoArtifactBytes is the size of the fix's .deb: a typical security
	// fix, large enough that sharing it among peers shows.
	demoArtifactBytes = 256 << 10
	// demoReadyTimeout is the least time the zone gets to connect at
	// set-up (more with a longer --timeout).
	demoReadyTimeout = 30 * time.Second
	// demoPoll is how often the live counts are read.
	demoPoll = 25 * time.Millisecond
)

func init() { rootCmd.AddCommand(newDemoCmd()) }

// demoOptions are the demo's flags.
type demoOptions struct {
	agents, supernodes, threshold int
	latency                       time.Duration
	keep                          string
	timeout                       time.Duration
}

func newDemoCmd() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole zone in one process: publish a fix and watch every agent install it",
		Long: `demo is the testnet's propagation scenario in sim mode (what ` + "`patchnet testnet`" + `
runs), small and narrated, with real installs. It builds a complete zone in
a temporary directory — a root CA and a zone CA with real certificate
files, two real .deb packages (hello-patchnet 1.0-1 and 2.0-1, built with
dpkg-deb), and for every agent a sandbox Debian 12 root with 1.0-1
installed by dpkg — and runs it in this process, every node on its own
address of a simulated network (QUIC, --latency each way).

It starts a publisher, --supernodes supernodes and --agents agents (each a
full node: libp2p host, gossip, DHT, badger state), then publishes the 2.0-1
fix. Each supernode verifies the announcement on its own, fetches the
package itself from the vendor's origin (never from peers or the
publisher), checks its size, SHA-256 and the vendor's OpenPGP signature,
and only then co-signs and seeds it to the zone;
each agent accepts it once --threshold distinct supernodes co-signed, matches
it against its sandbox's dpkg database, fetches the package from peers (the
vendor URL is the fallback) and installs it with dpkg, journalled for
rollback. Live counts are printed while it propagates, then a table per node
and the run's report (stage percentiles, egress, time to patch beside pull
timers, checks). The exit status is 0 only if every agent ends with 2.0-1
installed (as dpkg-query reports it). It needs dpkg, dpkg-deb and
dpkg-query (` + "`make deps`" + `).`,
		Example: `  patchnet demo
  patchnet demo --agents 20 --supernodes 5 --threshold 3 --latency 50ms
  patchnet demo --keep /tmp/pn-demo    # keep certificates, packages and sandboxes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Interrupted, the run ends as a timeout does: nodes stopped,
			// the report of what happened so far, the directory removed.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.agents, "agents", 8, "agents, each with its own sandbox Debian root")
	f.IntVar(&o.supernodes, "supernodes", 3, "supernodes that verify and co-sign")
	f.IntVar(&o.threshold, "threshold", 2, "distinct supernode co-signatures an agent requires (k)")
	f.DurationVar(&o.latency, "latency", 20*time.Millisecond, "one-way delay of every link of the simulated network")
	f.StringVar(&o.keep, "keep", "", "build the zone in DIR and keep it (default: a temporary directory, removed)")
	f.DurationVar(&o.timeout, "timeout", 45*time.Second, "give up if not every agent installed by then")
	return cmd
}

func (o demoOptions) validate() error {
	switch {
	case o.agents < 1 || o.agents > demoMaxAgents:
		return fmt.Errorf("--agents %d: want 1..%d", o.agents, demoMaxAgents)
	case o.supernodes < 1 || o.supernodes > demoMaxSupernodes:
		return fmt.Errorf("--supernodes %d: want 1..%d", o.supernodes, demoMaxSupernodes)
	case o.threshold < 1 || o.threshold > o.supernodes:
		return fmt.Errorf("--threshold %d: want 1..%d (the supernodes)", o.threshold, o.supernodes)
	case o.latency < 0 || o.latency > testnet.MaxLatency:
		return fmt.Errorf("--latency %v: want 0..%v", o.latency, testnet.MaxLatency)
	case o.timeout <= 0:
		return fmt.Errorf("--timeout %v: want a positive duration", o.timeout)
	}
	return nil
}

// params are the testnet run the demo is: the propagation scenario in sim
// mode, without baselines (`patchnet testnet` measures those).
func (o demoOptions) params() testnet.Params {
	p := testnet.DefaultParams()
	p.Mode, p.Scenario = testnet.ModeSim, testnet.ScenarioPropagation
	p.Nodes, p.Supernodes, p.Threshold = o.agents, o.supernodes, o.threshold
	p.Latency, p.Timeout = o.latency, o.timeout
	p.ArtifactBytes = demoArtifactBytes
	p.Baselines = false
	p.Settle = 0 // a handful of agents: publish as soon as they are meshed
	return p
}

// runDemo runs the scenario, narrating it, and reports.
func runDemo(ctx context.Context, w io.Writer, o demoOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	dir, cleanup, err := demoDir(o.keep)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(w, "building zone \"sim\" in %s: root CA, zone CA, %d certificates, 2 .debs, %d sandbox roots ...\n",
		dir, 1+o.supernodes+o.agents, o.agents)
	n := &demoNarrator{w: w, o: o}
	rep, err := sim.RunWith(ctx, o.params(), nil, sim.Options{
		Dir: dir, RealInstallers: true, ReadyTimeout: max(o.timeout, demoReadyTimeout),
		OnStarted: n.started, OnPublished: n.published,
	})
	n.stop(ctx)
	if err != nil {
		return fmt.Errorf("running the demo zone: %w", err)
	}
	return n.report(ctx, rep)
}

// demoDir is --keep's directory, or a fresh temporary one removed after.
func demoDir(keep string) (string, func(), error) {
	if keep != "" {
		if err := os.MkdirAll(keep, 0o700); err != nil {
			return "", nil, fmt.Errorf("--keep %s: %w", keep, err)
		}
		if entries, _ := os.ReadDir(keep); len(entries) > 0 {
			return "", nil, fmt.Errorf("--keep %s: directory is not empty", keep)
		}
		return keep, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "patchnet-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("making the demo's directory: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// demoCounts are how many nodes reached each stage.
type demoCounts struct{ cosigned, accepted, fetched, installed, failed int }

func countDemo(lab *nodelab.Lab) demoCounts {
	var c demoCounts
	for _, m := range lab.Supernodes {
		if m.Status().Has(node.EventCoSigned) {
			c.cosigned++
		}
	}
	for _, m := range lab.Agents {
		st := m.Status()
		for kind, n := range map[node.EventKind]*int{node.EventAccepted: &c.accepted, node.EventFetched: &c.fetched,
			node.EventInstalled: &c.installed, node.EventFailed: &c.failed} {
			if st.Has(kind) {
				*n++
			}
		}
	}
	return c
}

// demoNarrator tells the run as it happens, through the sim's hooks: the
// zone up, the fix published, then a line each time the counts change
// until the run ends.
type demoNarrator struct {
	w    io.Writer
	o    demoOptions
	lab  *nodelab.Lab
	t0   time.Time
	last demoCounts
	// quit ends the watch, which closes done when it has.
	quit, done chan struct{}
	once       sync.Once
}

// started is the sim's OnStarted.
func (n *demoNarrator) started(lab *nodelab.Lab, setup time.Duration) {
	n.lab = lab
	fmt.Fprintf(n.w, "zone up in %d ms: 1 publisher, %d supernodes, %d agents on a simulated network (%v a link each way, k=%d)\n",
		setup.Milliseconds(), len(lab.Supernodes), len(lab.Agents), n.o.latency, n.o.threshold)
}

// published is the sim's OnPublished: it starts the live counts.
func (n *demoNarrator) published(fix *updates.Announcement, at time.Time) {
	fmt.Fprintf(n.w, "published %s: %s %s (%d bytes, content id %s)\n", fix.ID, nodelab.PackageName, nodelab.NewVersion,
		fix.Patchnet.Artifact.Size, fix.Patchnet.Artifact.ContentID)
	n.once.Do(func() {
		n.t0, n.quit, n.done = at, make(chan struct{}), make(chan struct{})
		go n.watch()
	})
}

// watch prints the counts each time they change, until quit.
func (n *demoNarrator) watch() {
	defer close(n.done)
	tick := time.NewTicker(demoPoll)
	defer tick.Stop()
	for {
		n.line()
		select {
		case <-n.quit:
			return
		case <-tick.C:
		}
	}
}

// line prints the counts if they changed.
func (n *demoNarrator) line() {
	c, agents := countDemo(n.lab), len(n.lab.Agents)
	if c == n.last {
		return
	}
	n.last = c
	fmt.Fprintf(n.w, "  +%5d ms  co-signed %d/%d  accepted %d/%d  fetched %d/%d  installed %d/%d\n",
		time.Since(n.t0).Milliseconds(), c.cosigned, len(n.lab.Supernodes), c.accepted, agents, c.fetched, agents, c.installed, agents)
}

// stop ends the live counts once the run returned (its nodes stopped):
// their last line, and whether the run gave up.
func (n *demoNarrator) stop(ctx context.Context) {
	if n.quit == nil {
		return
	}
	close(n.quit)
	<-n.done
	n.line()
	switch {
	case n.last.installed == len(n.lab.Agents):
	case ctx.Err() != nil:
		fmt.Fprintf(n.w, "interrupted: %v\n", ctx.Err())
	default:
		fmt.Fprintf(n.w, "timed out after %v\n", n.o.timeout)
	}
}

// report prints the per-node table, the run's report and the artifact's
// sources, and checks every agent's sandbox with dpkg-query: the exit
// status's rule.
func (n *demoNarrator) report(ctx context.Context, rep *testnet.Report) error {
	if n.lab == nil || n.quit == nil {
		return fmt.Errorf("the demo zone ended before the fix was published")
	}
	laggards := n.nodeTable(ctx)
	if err := testnet.WriteTable(n.w, rep); err != nil {
		return err
	}
	lab := n.lab
	sent, reqs := lab.VendorBytes()
	fetchers := 0
	for _, m := range lab.Members() {
		if m.Status().Has(node.EventFetched) {
			fetchers++
		}
	}
	size := lab.ArtifactSize()
	fmt.Fprintf(n.w, "\nartifact delivered to %d nodes (%d bytes in all): %d bytes from the vendor's HTTP origin in %d requests, %d from peers\n",
		fetchers, int64(fetchers)*size, sent, reqs, max(0, int64(fetchers)*size-sent))
	if len(laggards) > 0 {
		return fmt.Errorf("%d of %d agents did not install %s %s: %s", len(laggards), len(lab.Agents),
			nodelab.PackageName, nodelab.NewVersion, strings.Join(laggards, ", "))
	}
	fmt.Fprintf(n.w, "all %d agents installed %s %s (dpkg-query in each sandbox)\n", len(lab.Agents), nodelab.PackageName, nodelab.NewVersion)
	return nil
}

// nodeTable prints a row per node, its stages' times from publication and
// (agents) the version dpkg-query reports in its sandbox; it returns the
// agents without NewVersion.
func (n *demoNarrator) nodeTable(ctx context.Context) (laggards []string) {
	ms := func(st node.Status, kind node.EventKind) string {
		if at, ok := st.First[kind]; ok {
			return fmt.Sprintf("+%d", at.Sub(n.t0).Milliseconds())
		}
		return "-"
	}
	tw := tabwriter.NewWriter(n.w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tPEER\tCO-SIGNED ms\tACCEPTED ms\tINSTALLED ms\tFETCHED FROM\tDPKG\t")
	for _, m := range n.lab.Members() {
		st := m.Status()
		version, from := "", "-"
		if e, ok := st.Last(node.EventFetched); ok {
			from = fetchedFrom(n.lab, e)
		}
		if m.Sysroot != "" {
			v, err := nodelab.InstalledVersion(ctx, m.Sysroot)
			if err != nil {
				v = "error: " + err.Error()
			}
			version = v
			if v != nodelab.NewVersion {
				laggards = append(laggards, m.Name)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.Name, m.RoleText(), shortPeer(m.ID().String()),
			ms(st, node.EventCoSigned), ms(st, node.EventAccepted), ms(st, node.EventInstalled), from, version)
	}
	tw.Flush()
	return laggards
}

// fetchedFrom names the source of a fetch: the nodes that served it, or
// the vendor.
func fetchedFrom(lab *nodelab.Lab, e node.Event) string {
	if len(e.From) == 0 {
		return e.Source
	}
	names := map[string]string{}
	for _, m := range lab.Members() {
		names[m.ID().String()] = m.Name
	}
	var out []string
	for _, p := range e.From {
		out = append(out, names[p.String()])
	}
	return e.Source + ": " + strings.Join(out, ",")
}

// shortPeer abbreviates a peer ID for the table.
func shortPeer(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[:6] + "…" + id[len(id)-6:]
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
)

func init() { rootCmd.AddCommand(newDemoCmd()) }

// demoOptions are the demo's flags.
type demoOptions struct {
	agents, supernodes, threshold int
	keep                          string
	timeout                       time.Duration
}

func newDemoCmd() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole zone in one process: publish a fix and watch every agent install it",
		Long: `demo builds a complete zone in a temporary directory and runs it in this
process, on 127.0.0.1: a root CA and a zone CA with real certificate files,
two real .deb packages (hello-patchnet 1.0-1 and 2.0-1, built with dpkg-deb),
and for every agent a sandbox Debian 12 root with 1.0-1 installed by dpkg.

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
and latency percentiles. The exit status is 0 only if every agent ends with
2.0-1 installed (as dpkg-query reports it).`,
		Example: `  patchnet demo
  patchnet demo --agents 20 --supernodes 5 --threshold 3
  patchnet demo --keep /tmp/pn-demo    # keep certificates, packages and sandboxes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.agents, "agents", 8, "agents, each with its own sandbox Debian root")
	f.IntVar(&o.supernodes, "supernodes", 3, "supernodes that verify and co-sign")
	f.IntVar(&o.threshold, "threshold", 2, "distinct supernode co-signatures an agent requires (k)")
	f.StringVar(&o.keep, "keep", "", "build the zone in DIR and keep it (default: a temporary directory, removed)")
	f.DurationVar(&o.timeout, "timeout", 45*time.Second, "give up if not every agent installed by then")
	return cmd
}

func (o demoOptions) validate() error {
	switch {
	case o.agents < 1 || o.agents > 200:
		return fmt.Errorf("--agents %d: want 1..200", o.agents)
	case o.supernodes < 1 || o.supernodes > 32:
		return fmt.Errorf("--supernodes %d: want 1..32", o.supernodes)
	case o.threshold < 1 || o.threshold > o.supernodes:
		return fmt.Errorf("--threshold %d: want 1..%d (the supernodes)", o.threshold, o.supernodes)
	case o.timeout <= 0:
		return fmt.Errorf("--timeout %v: want a positive duration", o.timeout)
	}
	return nil
}

// runDemo builds the zone, publishes the fix and reports.
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
	start := time.Now()
	fmt.Fprintf(w, "building zone \"demo\" in %s: root CA, zone CA, %d certificates, 2 .debs, %d sandbox roots ...\n",
		dir, 1+o.supernodes+o.agents, o.agents)
	lab, err := nodelab.New(ctx, nodelab.Options{Dir: dir, Agents: o.agents, Supernodes: o.supernodes, Threshold: o.threshold})
	if err != nil {
		return fmt.Errorf("building the demo zone: %w", err)
	}
	defer lab.Close()
	fmt.Fprintf(w, "zone up in %d ms: 1 publisher, %d supernodes, %d agents on 127.0.0.1 (k=%d)\n",
		time.Since(start).Milliseconds(), o.supernodes, o.agents, o.threshold)
	fix, err := lab.Fix(ctx, "PNT-DEMO-0001", 1)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := lab.Publisher.Publish(ctx, fix); err != nil {
		return err
	}
	fmt.Fprintf(w, "published %s: %s %s (%d bytes, content id %s)\n", fix.ID, nodelab.PackageName, nodelab.NewVersion,
		fix.Patchnet.Artifact.Size, fix.Patchnet.Artifact.ContentID)
	watchDemo(ctx, w, lab, t0, o.timeout)
	return reportDemo(ctx, w, lab, t0)
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
		return "", nil, err
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

// watchDemo prints a line each time the counts change, until every agent
// finished (installed or failed) or the timeout.
func watchDemo(ctx context.Context, w io.Writer, lab *nodelab.Lab, t0 time.Time, timeout time.Duration) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var last demoCounts
	agents := len(lab.Agents)
	for {
		c := countDemo(lab)
		if c != last {
			fmt.Fprintf(w, "  +%5d ms  co-signed %d/%d  accepted %d/%d  fetched %d/%d  installed %d/%d\n",
				time.Since(t0).Milliseconds(), c.cosigned, len(lab.Supernodes), c.accepted, agents, c.fetched, agents, c.installed, agents)
			last = c
		}
		if c.installed+c.failed == agents {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			fmt.Fprintf(w, "timed out after %v\n", timeout)
			return
		case <-tick.C:
		}
	}
}

// reportDemo prints the per-node table and percentiles and checks every
// agent's sandbox with dpkg-query.
func reportDemo(ctx context.Context, w io.Writer, lab *nodelab.Lab, t0 time.Time) error {
	ms := func(st node.Status, kind node.EventKind) string {
		if at, ok := st.First[kind]; ok {
			return fmt.Sprintf("+%d", at.Sub(t0).Milliseconds())
		}
		return "-"
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tPEER\tCO-SIGNED ms\tACCEPTED ms\tINSTALLED ms\tFETCHED FROM\tDPKG\t")
	var accepted, installed []time.Duration
	var laggards []string
	for _, m := range lab.Members() {
		st := m.Status()
		version, from := "", "-"
		if e, ok := st.Last(node.EventFetched); ok {
			from = fetchedFrom(lab, e)
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
			if at, ok := st.First[node.EventAccepted]; ok {
				accepted = append(accepted, at.Sub(t0))
			}
			if at, ok := st.First[node.EventInstalled]; ok {
				installed = append(installed, at.Sub(t0))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.Name, m.RoleText(), shortPeer(m.ID().String()),
			ms(st, node.EventCoSigned), ms(st, node.EventAccepted), ms(st, node.EventInstalled), from, version)
	}
	tw.Flush()
	fmt.Fprintf(w, "accepted:  %s\ninstalled: %s\n", percentiles(accepted), percentiles(installed))
	sent, reqs := lab.VendorBytes()
	fetchers := 0
	for _, m := range lab.Members() {
		if m.Status().Has(node.EventFetched) {
			fetchers++
		}
	}
	size := lab.ArtifactSize()
	fmt.Fprintf(w, "artifact delivered to %d nodes (%d bytes in all): %d bytes from the vendor in %d requests, %d from peers\n",
		fetchers, int64(fetchers)*size, sent, reqs, max(0, int64(fetchers)*size-sent))
	if len(laggards) > 0 {
		return fmt.Errorf("%d of %d agents did not install %s %s: %s", len(laggards), len(lab.Agents),
			nodelab.PackageName, nodelab.NewVersion, strings.Join(laggards, ", "))
	}
	fmt.Fprintf(w, "all %d agents installed %s %s\n", len(lab.Agents), nodelab.PackageName, nodelab.NewVersion)
	return nil
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

// percentiles formats p50, p90, p99 and max of ds in milliseconds.
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	slices.Sort(ds)
	p := func(q float64) int64 {
		i := int(q*float64(len(ds))+0.999999) - 1
		return ds[max(0, min(i, len(ds)-1))].Milliseconds()
	}
	return fmt.Sprintf("n=%d p50 %d ms  p90 %d ms  p99 %d ms  max %d ms", len(ds), p(0.5), p(0.9), p(0.99), ds[len(ds)-1].Milliseconds())
}

// shortPeer abbreviates a peer ID for the table.
func shortPeer(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[:6] + "…" + id[len(id)-6:]
}

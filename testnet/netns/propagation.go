package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
)

// The propagation scenario's package: every agent has it at oldVersion,
// the update brings newVersion of Params.ArtifactBytes.
const (
	propPackage = "patchnet-fix"
	oldVersion  = "1.0-1"
	newVersion  = "2.0-1"
	propID      = "TESTNET-NETNS-0001"
	// smallPackage is the size of the packages agents start with.
	smallPackage = 4096
)

// propagation publishes one .deb of Params.ArtifactBytes into a zone of
// Params.Nodes agents, each vulnerable, and times receipt, acceptance and
// install on each from publication.
func propagation(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	var agents []string
	for i := range p.Nodes {
		agents = append(agents, fmt.Sprintf("a%d", i+1))
	}
	var fix string
	setup := func(ctx context.Context, c *cluster) error {
		dir := c.kit.Path("packages")
		old, err := buildDeb(ctx, dir, pkg{propPackage, oldVersion, smallPackage})
		if err != nil {
			return err
		}
		if fix, err = buildDeb(ctx, dir, pkg{propPackage, newVersion, p.ArtifactBytes}); err != nil {
			return err
		}
		for i, a := range agents {
			c.progress("starting agents", i, len(agents))
			root := c.kit.Path(a, "root")
			if err := nodelab.MakeSandbox(ctx, c.kit.Path(a), root, old); err != nil {
				return err
			}
			if err := c.startAgent(ctx, a, root, nil); err != nil {
				return err
			}
		}
		c.progress("starting agents", len(agents), len(agents))
		return nil
	}
	return withCluster(ctx, p, progress, agents, setup, func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		url, err := c.vendor.Add(fix)
		if err != nil {
			return nil, err
		}
		t0, done, err := c.publish(ctx, zonekit.Update{ID: propID, Summary: "testnet propagation", Ecosystem: "Debian:12",
			Package: propPackage, Fixed: newVersion, Artifact: fix, Method: "dpkg", URL: url})
		if err != nil {
			return nil, err
		}
		tls, werr := c.waitFinal(ctx, propID, agents)
		if err := <-done; err != nil {
			return nil, err
		}
		rep := baseReport(p, c, setupTime)
		if fi, err := os.Stat(fix); err == nil {
			rep.ArtifactBytes = fi.Size() // the .deb as built, within 512 bytes of the asked size
		}
		fillStages(rep, tls, agents, t0)
		if err := c.counters(ctx, rep, propID); err != nil { // before the baseline's downloads
			return rep, errors.Join(werr, err)
		}
		installed := 0
		for _, a := range agents {
			if tl := tls[a]; tl != nil && tl.state == node.StateInstalled {
				installed++
			}
		}
		rep.Checks["all_installed"] = installed == len(agents)
		if _, err := exec.LookPath("curl"); err == nil && p.Baselines && werr == nil { // absent from Results without curl
			res, served, err := httpOrigin(ctx, c, url)
			if err != nil {
				return rep, err
			}
			rep.Results[testnet.ResultHTTPOrigin], rep.HTTPOriginEgressBytes = res, served
		}
		return rep, werr
	})
}

// fillStages fills the report's samples, stage percentiles and the
// patchnet result (install) from the agents' timelines of one update
// published at t0.
func fillStages(rep *testnet.Report, tls map[string]*timeline, agents []string, t0 time.Time) {
	var receipt, accept, inst []time.Duration
	since := func(t time.Time) time.Duration {
		if t.IsZero() {
			return 0
		}
		return t.Sub(t0)
	}
	for _, a := range agents {
		tl := tls[a]
		if tl == nil {
			continue
		}
		s := testnet.Sample{Node: a, Role: "agent", Receipt: since(tl.first), Accept: since(tl.at[node.EventAccepted]),
			Install: since(tl.at[node.EventInstalled])}
		rep.Samples = append(rep.Samples, s)
		for _, x := range []struct {
			d    time.Duration
			list *[]time.Duration
		}{{s.Receipt, &receipt}, {s.Accept, &accept}, {s.Install, &inst}} {
			if x.d > 0 {
				*x.list = append(*x.list, x.d)
			}
		}
	}
	rep.Stages = map[string]testnet.Result{
		"receipt": testnet.Summarize(receipt, len(agents)),
		"accept":  testnet.Summarize(accept, len(agents)),
		"install": testnet.Summarize(inst, len(agents)),
	}
	rep.Results[testnet.ResultPatchnet] = rep.Stages["install"]
}

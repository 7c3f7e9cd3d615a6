package netns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/rawgossip"
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
	agents := agentNames(p.Nodes)
	var pk packages
	outer := ctx // the baseline's budget is its own, not what is left of patchnet's
	return withCluster(ctx, p, progress, agents, fixSetup(p, agents, &pk), func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		url, t0, done, err := c.publishFix(ctx, pk.fix)
		if err != nil {
			return nil, err
		}
		tls, werr := c.waitFinal(ctx, propID, agents)
		if err := <-done; err != nil {
			return nil, err
		}
		rep := fixReport(p, c, setupTime, pk.fix)
		fillStages(rep, tls, agents, t0)
		if err := c.counters(ctx, rep, propID); err != nil { // before the baseline's downloads
			return rep, errors.Join(werr, err)
		}
		rep.Checks["all_installed"] = count(tls, agents, installed) == len(agents)
		if !p.Baselines || werr != nil {
			return rep, werr
		}
		if _, err := exec.LookPath("curl"); err == nil { // absent from Results without curl
			res, served, err := httpOrigin(outer, c, url)
			if err != nil {
				return rep, err
			}
			rep.Results[testnet.ResultHTTPOrigin], rep.HTTPOriginEgressBytes = res, served
		}
		// The announcement as the agents accepted it (counters read it).
		out, err := rawGossipsub(outer, c, int(cmp.Or(rep.AnnouncementBytes, rawgossip.MessageBytes)))
		if err != nil {
			return rep, err
		}
		out.Fill(rep, len(agents))
		return rep, nil
	})
}

// content is propagation judged by the artifact's distribution: the
// origins (the vendor's HTTP origin and the publisher, each capped at
// Params.OriginBandwidth) may serve at most each supernode's own check
// of the artifact and one more copy, where the HTTP baseline's origin
// serves every agent: the agents must share.
func content(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	rep, err := propagation(ctx, p, progress)
	if rep != nil {
		rep.Checks["origin_egress_within_bound"] = rep.OriginEgressBytes <= testnet.OriginEgressBound(p.Supernodes, rep.ArtifactBytes)
		rep.Checks["peers_served"] = rep.PeerEgressBytes > 0
	}
	return rep, err
}

// agentNames are the names of n agents: a1…an.
func agentNames(n int) []string {
	var agents []string
	for i := range n {
		agents = append(agents, fmt.Sprintf("a%d", i+1))
	}
	return agents
}

// packages are a propagation run's two packages: the old one every agent
// starts with, and the fix of Params.ArtifactBytes.
type packages struct{ old, fix string }

// fixSetup builds the packages (into *pk) and starts the agents, each
// with the old package installed. Agents of the cluster not in started
// get no process yet (late-join starts them later).
func fixSetup(p testnet.Params, started []string, pk *packages) func(context.Context, *cluster) error {
	return func(ctx context.Context, c *cluster) error {
		dir := c.kit.Path("packages")
		var err error
		if pk.old, err = buildDeb(ctx, dir, pkg{propPackage, oldVersion, smallPackage}); err != nil {
			return err
		}
		if pk.fix, err = buildDeb(ctx, dir, pkg{propPackage, newVersion, p.ArtifactBytes}); err != nil {
			return err
		}
		for i, a := range started {
			c.progress("starting agents", i, len(started))
			if err := c.startVulnerable(ctx, a, pk.old); err != nil {
				return err
			}
		}
		c.progress("starting agents", len(started), len(started))
		return nil
	}
}

// startVulnerable starts agent a on a new sysroot with the old package
// installed.
func (c *cluster) startVulnerable(ctx context.Context, a, old string) error {
	root := c.kit.Path(a, "root")
	if err := c.sandbox(ctx, c.kit.Path(a), root, old); err != nil {
		return err
	}
	return c.startAgent(ctx, a, root, nil)
}

// publishFix puts the fix on the vendor's origin and publishes it; it
// returns the fix's URL and what cluster.publish returns.
func (c *cluster) publishFix(ctx context.Context, fix string) (string, time.Time, <-chan error, error) {
	url, err := c.vendor.Add(fix)
	if err != nil {
		return "", time.Time{}, nil, err
	}
	if err := c.released(propID, fix); err != nil {
		return "", time.Time{}, nil, err
	}
	t0, done, err := c.publish(ctx, zonekit.Update{ID: propID, Summary: "testnet propagation", Ecosystem: "Debian:12",
		Package: propPackage, Fixed: newVersion, Artifact: fix, Method: "dpkg", URL: url})
	return url, t0, done, err
}

// fixReport is the report's header for a run that published fix.
func fixReport(p testnet.Params, c *cluster, setupTime time.Duration, fix string) *testnet.Report {
	rep := baseReport(p, c, setupTime)
	if fi, err := os.Stat(fix); err == nil {
		rep.ArtifactBytes = fi.Size() // the .deb as built, within 512 bytes of the asked size
	}
	return rep
}

// installed and accepted say whether a timeline reached a stage.
func installed(tl *timeline) bool { return tl.state == node.StateInstalled }
func accepted(tl *timeline) bool  { return !tl.at[node.EventAccepted].IsZero() }

// count is how many of set have a timeline for which reached holds.
func count(tls map[string]*timeline, set []string, reached func(*timeline) bool) int {
	n := 0
	for _, a := range set {
		if tl := tls[a]; tl != nil && reached(tl) {
			n++
		}
	}
	return n
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

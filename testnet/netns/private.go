package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
)

// The private-zone scenario's second zone and its update; the public zone
// is the cluster's own ("testnet") with the propagation scenario's
// package.
const (
	privateZone = "acme"
	privateID   = "TESTNET-NETNS-ACME-0001"
	publicID    = propID
	// publicPublisher is the cluster's publisher (cluster.go names it).
	publicPublisher = "pub"
)

// privateNames are the private zone's publisher and supernodes: the
// public zone's names, prefixed, as all share one network.
func privateNames(p testnet.Params) (publisher string, supernodes []string) {
	for i := range p.Supernodes {
		supernodes = append(supernodes, fmt.Sprintf("%s_sn%d", privateZone, i+1))
	}
	return privateZone + "_pub", supernodes
}

// psk is the private zone's pre-shared key file: its first supernode's
// `init --private` wrote it.
func psk(priv *cluster) string {
	_, sns := privateNames(priv.p)
	return priv.kit.Path(sns[0], "swarm.key")
}

// privateZoneScenario runs a private zone (pre-shared key, `patchnet init
// --private`) beside the public one, on the same bridge, under the same
// root CA: each zone has its supernodes, publisher and half the agents,
// and every public agent is given the private zone's bootstrap peer too.
// Each zone publishes its own fix. Every agent must install its own
// zone's fix and never hear of the other's, and no node may be connected
// to a node of the other zone (read at the end of the run): without the
// key a connection cannot be set up. It runs in netns, not sim: libp2p's
// pre-shared key needs TCP (its QUIC transport refuses one), and the sim's
// network carries only datagrams.
func privateZoneScenario(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	r := &privateRun{p: p, progress: progress}
	for i := range p.Nodes {
		if i%2 == 0 {
			r.public = append(r.public, fmt.Sprintf("a%d", i+1))
		} else {
			r.private = append(r.private, fmt.Sprintf("acme_a%d", i+1))
		}
	}
	if len(r.private) == 0 {
		return nil, fmt.Errorf("private zone: needs at least 2 agents, one in each zone (have %d)", p.Nodes)
	}
	rep, err := withCluster(ctx, p, progress, r.public, r.setup, r.body)
	if r.priv != nil {
		r.priv.stop() // set-up failed before the body ran
	}
	return rep, err
}

// privateRun is one run of the private-zone scenario: the public zone is
// withCluster's, priv the private one beside it.
type privateRun struct {
	p               testnet.Params
	progress        testnet.Progress
	public, private []string // the agents of each zone
	priv            *cluster
	fix             string // the .deb both zones publish
}

// setup starts the private zone's cluster, builds the packages and starts
// every agent of both zones, each on a sandbox with the old package.
func (r *privateRun) setup(ctx context.Context, c *cluster) error {
	var err error
	if r.priv, err = c.privateBeside(ctx, r.private); err != nil {
		return err
	}
	dir := c.kit.Path("packages")
	old, err := buildDeb(ctx, dir, pkg{propPackage, oldVersion, smallPackage})
	if err != nil {
		return err
	}
	if r.fix, err = buildDeb(ctx, dir, pkg{propPackage, newVersion, r.p.ArtifactBytes}); err != nil {
		return err
	}
	for i, a := range append(slices.Clone(r.public), r.private...) {
		r.progress("starting agents", i, r.p.Nodes)
		z, extra := c, []string{"--bootstrap", c.boot, "--bootstrap", r.priv.boot}
		if i >= len(r.public) {
			z, extra = r.priv, []string{"--bootstrap", r.priv.boot, "--psk-file", psk(r.priv)}
		}
		root := z.kit.Path(a, "root")
		if err := z.sandbox(ctx, z.kit.Path(a), root, old); err != nil {
			return err
		}
		if err := z.start(ctx, a, "agent", nil, append([]string{"--sysroot", root}, extra...)...); err != nil {
			return err
		}
	}
	r.progress("starting agents", r.p.Nodes, r.p.Nodes)
	return r.priv.settle(ctx)
}

// body publishes each zone's fix at once, waits for every agent and
// reads the checks.
func (r *privateRun) body(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
	defer r.priv.stop()
	t0 := time.Now()
	done, err := r.publishBoth(ctx, c)
	if err != nil {
		return nil, err
	}
	pubTL, werr := c.waitFinal(ctx, publicID, r.public)
	privTL, perr := r.priv.waitFinal(ctx, privateID, r.private)
	werr = errors.Join(werr, perr, <-done, <-done)
	rep := baseReport(r.p, c, setupTime)
	rep.Nodes = r.p.Nodes
	fillStages(rep, mergeTimelines(pubTL, privTL), append(slices.Clone(r.public), r.private...), t0)
	// Counters of the public zone's daemons (the private zone's cluster is
	// read for its checks only).
	if err := c.counters(ctx, rep, publicID); err != nil {
		return rep, errors.Join(werr, err)
	}
	rep.Checks["public_installed"] = installedAll(pubTL, r.public)
	rep.Checks["private_installed"] = installedAll(privTL, r.private)
	if err := privateChecks(ctx, rep, c, r.priv, r.public, r.private); err != nil {
		return rep, err
	}
	if err := r.priv.checkInstalls(ctx, rep); err != nil {
		return rep, errors.Join(werr, err)
	}
	return rep, werr
}

// publishBoth has each zone's publisher publish its fix (the same .deb
// under each zone's id) at once; the channel yields each publish's
// outcome. Each publisher seeds until its command ends.
func (r *privateRun) publishBoth(ctx context.Context, c *cluster) (<-chan error, error) {
	url, err := c.vendor.Add(r.fix)
	if err != nil {
		return nil, err
	}
	privPub, _ := privateNames(r.p)
	done := make(chan error, 2)
	for _, z := range []struct {
		c       *cluster
		id, pub string
	}{{c, publicID, publicPublisher}, {r.priv, privateID, privPub}} {
		u := zonekit.Update{ID: z.id, Summary: "testnet " + z.c.kit.Zone, Ecosystem: "Debian:12",
			Package: propPackage, Fixed: newVersion, Artifact: r.fix, Method: "dpkg", URL: url, RolloutSpread: z.c.p.RolloutSpread}
		f, err := z.c.kit.NewUpdate(ctx, u)
		if err != nil {
			return nil, err
		}
		if err := z.c.released(z.id, r.fix); err != nil {
			return nil, err
		}
		go func() {
			_, err := z.c.kit.Publish(ctx, c.net.Node(z.pub).Command, f, r.fix, z.c.kit.Path(z.pub+".toml"), r.p.Timeout)
			done <- err
		}()
	}
	return done, nil
}

// privateBeside makes the private zone's cluster on c's network: a zone
// CA under c's root with the certificates of its supernodes, publisher and
// agents, its supernodes started (the first writes the pre-shared key with
// --private) and its publisher's config, in namespaces of their own.
func (c *cluster) privateBeside(ctx context.Context, agents []string) (*cluster, error) {
	priv := &cluster{p: c.p, progress: c.progress, net: c.net, vendor: c.vendor, procs: map[string]*zonekit.Proc{}, agents: agents,
		kit: &zonekit.Kit{Bin: c.kit.Bin, Dir: c.kit.Path(privateZone), Zone: privateZone, Threshold: c.p.Threshold}}
	publisher, supernodes := privateNames(c.p)
	if err := os.MkdirAll(priv.kit.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("making the private zone's directory: %w", err)
	}
	// The same root: the key, not the certificates, keeps the zones apart.
	if err := os.Symlink(c.kit.Path("root"), priv.kit.Path("root")); err != nil {
		return nil, fmt.Errorf("sharing the root CA: %w", err)
	}
	steps := [][]string{{"ca", "init-zone", "--root", priv.kit.Path("root"), "--zone", privateZone, "--out", priv.kit.Path("zone")}}
	names := map[string]string{publisher: "publisher"}
	for _, s := range supernodes {
		names[s] = "supernode"
	}
	for _, a := range agents {
		names[a] = "agent"
	}
	for name, role := range names {
		steps = append(steps, []string{"cert", "request", "--role", role, "--zone", privateZone, "--out", priv.kit.Path(name)},
			[]string{"ca", "sign", "--ca", priv.kit.Path("zone"), priv.kit.Path(name, "node.csr")})
	}
	for _, s := range steps {
		if _, err := priv.kit.Run(ctx, s...); err != nil {
			return priv, err
		}
	}
	cosign := []string{"--vendor-origin", c.vendor.URL, "--vendor-key", c.vendor.KeyFile}
	for i, s := range supernodes {
		extra := append([]string{"--private"}, cosign...)
		if i > 0 {
			extra = append([]string{"--psk-file", psk(priv), "--bootstrap", priv.boot}, cosign...)
		}
		if err := priv.start(ctx, s, "supernode", nil, extra...); err != nil {
			return priv, err
		}
	}
	_, _, err := priv.configure(ctx, publisher, "publisher", nil, "--bootstrap", priv.boot, "--psk-file", psk(priv))
	return priv, err
}

// stop stops the private zone's daemons; its namespaces, files and
// vendor are the public cluster's, which closes them.
func (c *cluster) stop() {
	for name, p := range c.procs {
		p.Stop(StopGrace)
		delete(c.procs, name)
	}
}

// mergeTimelines is a and b in one map (names are unique across zones).
func mergeTimelines(a, b map[string]*timeline) map[string]*timeline {
	out := map[string]*timeline{}
	for _, m := range []map[string]*timeline{a, b} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// installedAll reports whether every agent's timeline ends installed.
func installedAll(tls map[string]*timeline, agents []string) bool {
	for _, a := range agents {
		if tl := tls[a]; tl == nil || tl.state != node.StateInstalled {
			return false
		}
	}
	return true
}

// privateChecks reads every daemon's status once more, at the end of the
// run: each agent knows only its own zone's update
// (public_never_saw_private, private_never_saw_public), none installed the
// other zone's (each zone's journals are audited against its own
// releases), and no node of either zone lists a peer
// of the other among its connected peers (no_peer_across_zones; the
// public agents kept trying, the private zone's bootstrap peer being
// theirs too). Without the key that check fails: the zones connect.
func privateChecks(ctx context.Context, rep *testnet.Report, c, priv *cluster, public, private []string) error {
	ids := map[*cluster]map[string]bool{c: {}, priv: {}}
	statuses := map[*cluster]map[string]*node.APIStatus{c: {}, priv: {}}
	for _, z := range []*cluster{c, priv} {
		clients := map[string]*node.APIClient{}
		for name := range z.procs {
			st, err := z.status(ctx, clients, name)
			if err != nil {
				return err
			}
			ids[z][st.ID], statuses[z][name] = true, st
		}
		for _, cl := range clients {
			cl.Close()
		}
	}
	knows := func(z *cluster, agents []string, id string) bool {
		for _, a := range agents {
			for _, u := range statuses[z][a].Updates {
				if u.ID == id {
					return true
				}
			}
		}
		return false
	}
	rep.Checks["public_never_saw_private"] = !knows(c, public, privateID)
	rep.Checks["private_never_saw_public"] = !knows(priv, private, publicID)
	crossed := false
	for z, other := range map[*cluster]*cluster{c: priv, priv: c} {
		for _, st := range statuses[z] {
			for _, p := range st.Peers {
				crossed = crossed || ids[other][p.ID]
			}
		}
	}
	rep.Checks["no_peer_across_zones"] = !crossed
	return nil
}

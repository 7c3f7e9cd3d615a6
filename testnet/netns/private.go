package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	var public, private []string
	for i := range p.Nodes {
		if i%2 == 0 {
			public = append(public, fmt.Sprintf("a%d", i+1))
		} else {
			private = append(private, fmt.Sprintf("acme_a%d", i+1))
		}
	}
	if len(private) == 0 {
		return nil, fmt.Errorf("private zone: needs at least 2 agents, one in each zone (have %d)", p.Nodes)
	}
	var (
		priv *cluster
		fix  string
	)
	setup := func(ctx context.Context, c *cluster) error {
		var err error
		if priv, err = c.privateBeside(ctx, private); err != nil {
			return err
		}
		dir := c.kit.Path("packages")
		old, err := buildDeb(ctx, dir, pkg{propPackage, oldVersion, smallPackage})
		if err != nil {
			return err
		}
		if fix, err = buildDeb(ctx, dir, pkg{propPackage, newVersion, p.ArtifactBytes}); err != nil {
			return err
		}
		for i, a := range append(append([]string(nil), public...), private...) {
			progress("starting agents", i, p.Nodes)
			z, extra := c, []string{"--bootstrap", c.boot, "--bootstrap", priv.boot}
			if i >= len(public) {
				z, extra = priv, []string{"--bootstrap", priv.boot, "--psk-file", psk(priv)}
			}
			root := z.kit.Path(a, "root")
			if err := z.sandbox(ctx, z.kit.Path(a), root, old); err != nil {
				return err
			}
			if err := z.start(ctx, a, "agent", nil, append([]string{"--sysroot", root}, extra...)...); err != nil {
				return err
			}
		}
		progress("starting agents", p.Nodes, p.Nodes)
		return priv.settle(ctx)
	}
	rep, err := withCluster(ctx, p, progress, public, setup, func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		defer priv.stop()
		url, err := c.vendor.Add(fix)
		if err != nil {
			return nil, err
		}
		privPub, _ := privateNames(p)
		t0 := time.Now()
		done := make(chan error, 2)
		for _, z := range []struct {
			c       *cluster
			id, pub string
		}{{c, publicID, publicPublisher}, {priv, privateID, privPub}} {
			u := zonekit.Update{ID: z.id, Summary: "testnet " + z.c.kit.Zone, Ecosystem: "Debian:12",
				Package: propPackage, Fixed: newVersion, Artifact: fix, Method: "dpkg", URL: url, RolloutSpread: z.c.p.RolloutSpread}
			f, err := z.c.kit.NewUpdate(ctx, u)
			if err != nil {
				return nil, err
			}
			if err := z.c.released(z.id, fix); err != nil {
				return nil, err
			}
			// Both publish at once; each publisher seeds until its
			// command ends.
			go func() {
				_, err := z.c.kit.Publish(ctx, c.net.Node(z.pub).Command, f, fix, z.c.kit.Path(z.pub+".toml"), p.Timeout)
				done <- err
			}()
		}
		pubTL, werr := c.waitFinal(ctx, publicID, public)
		privTL, perr := priv.waitFinal(ctx, privateID, private)
		werr = errors.Join(werr, perr, <-done, <-done)
		rep := baseReport(p, c, setupTime)
		rep.Nodes = p.Nodes
		fillStages(rep, mergeTimelines(pubTL, privTL), append(append([]string(nil), public...), private...), t0)
		// Counters of the public zone's daemons (the private zone's
		// cluster is read for its checks only).
		if err := c.counters(ctx, rep, publicID); err != nil {
			return rep, errors.Join(werr, err)
		}
		rep.Checks["public_installed"] = installedAll(pubTL, public)
		rep.Checks["private_installed"] = installedAll(privTL, private)
		if err := privateChecks(ctx, rep, c, priv, public, private); err != nil {
			return rep, err
		}
		if err := priv.checkInstalls(ctx, rep); err != nil {
			return rep, errors.Join(werr, err)
		}
		return rep, werr
	})
	if priv != nil {
		priv.stop() // set-up failed before the body ran
	}
	return rep, err
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

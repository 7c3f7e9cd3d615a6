package sim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/updates"
)

const (
	// pollInterval is how often a wait counts the nodes' events.
	pollInterval = 20 * time.Millisecond
	// agentConnLow and agentConnHigh are a sim agent's connection water
	// marks (production: overlay.DefaultConnLow/High, 64/128): enough for
	// gossip meshes (D=6 on a few topics; the manager keeps mesh peers and
	// signers past the marks) and the DHT, whose lookups dial whom they
	// need. Each connection costs a sim node about 100 KB and nine
	// goroutines: at 16/32 agents settled at ~30 connections and 5.3 MB
	// live, at 8/16 at ~19 and 4.1 MB, with the same acceptance
	// (BENCHMARKS.md).
	agentConnLow, agentConnHigh = 8, 16
	// supernodeConnLow and supernodeConnHigh are a sim supernode's marks:
	// a connection from each agent of a 1,000-agent zone, which fetch
	// from it, and its own gossip and DHT peers.
	supernodeConnLow, supernodeConnHigh = 256, 1024
	// simSubscriptionBuffer is a sim node's subscription buffer (production:
	// overlay.DefaultSubscriptionBuffer, 1024), allocated per topic up
	// front: a run sends a handful of announcements, and a full buffer
	// holds pubsub back rather than losing a message. The per-peer
	// outbound queue stays at its default: pubsub drops what a full one
	// cannot take, subscriptions included.
	simSubscriptionBuffer = 128
	// simScoreInspect is how often a sim node snapshots its peers' scores
	// (production: overlay.DefaultScoreInspectInterval, 1 s): each
	// snapshot scores every peer on every topic, and a thousand nodes'
	// snapshots every second would take the idle zone's CPU (4.5 % of a
	// 300-node zone's at 1 s). A graylisted flooder stays up to 5 s.
	simScoreInspect = 5 * time.Second
)

// zone is a running nodelab zone on the simulated network.
type zone struct {
	lab    *nodelab.Lab
	net    *network
	ev     *events
	params testnet.Params
	opts   Options
	setup  time.Duration
	fix    *updates.Announcement
	t0     time.Time // publication
	// edges are the zone's connections at the first publication: the
	// topology the announcement spread over, which the raw gossipsub
	// baseline rebuilds (the nodes' fetches and DHT walks add connections
	// after it).
	edges [][2]peer.ID
	// fixID is the id of the fix publish makes (publicFixID; the private
	// zone's privateFixID).
	fixID string
	// private is the private-zone scenario's private zone, beside this
	// one on the same network and under the same root, sharing its
	// events; nil in other scenarios.
	private *zone
	// watch is the first agent's own subscription to the announce topic,
	// made before the first publication (watchAnnouncements): the copy
	// of the announcement gossip carried, read once after the scenario.
	watch *overlay.Subscription
}

// startZone builds the zone's files and starts every node on net: the
// publisher first, then the supernodes bootstrapping off it, then the
// agents bootstrapping off it and the first supernode (nodelab's order).
// The zone's files go in dir. For private-zone, the private zone beside
// it starts first (startPrivate), with half the agents, and the public
// agents are given its first supernode as a bootstrap peer too.
func startZone(ctx context.Context, p testnet.Params, o Options, dir string, net *network, progress testnet.Progress) (_ *zone, err error) {
	z := &zone{net: net, ev: newEvents(), params: p, opts: o, fixID: publicFixID}
	start := time.Now()
	agents, root, boot := p.Nodes, "", []string(nil)
	if p.Scenario == testnet.ScenarioPrivateZone {
		if z.private, err = z.startPrivate(ctx, dir, progress); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				z.private.lab.Close()
			}
		}()
		agents -= len(z.private.lab.Agents)
		root, boot = z.private.lab.RootDir(), z.private.lab.Supernodes[0].BootstrapAddrs()
	}
	lo := z.labOptions(dir, "sim", agents, progress)
	lo.Root = root
	lo.Configure = func(name string, cfg *node.Config) {
		configure(net, p, name, name, cfg)
		if strings.HasPrefix(name, "agent-") {
			cfg.Overlay.BootstrapPeers = append(cfg.Overlay.BootstrapPeers, boot...)
		}
	}
	lab, err := nodelab.New(ctx, lo)
	if err != nil {
		return nil, fmt.Errorf("starting a zone of %d agents: %w", agents, err)
	}
	z.lab, z.setup = lab, time.Since(start)
	return z, nil
}

// labOptions are the nodelab options of a zone named zoneName of agents
// agents in dir, recording into z's events; the caller sets Configure.
func (z *zone) labOptions(dir, zoneName string, agents int, progress testnet.Progress) nodelab.Options {
	p := z.params
	return nodelab.Options{Dir: dir, Zone: zoneName, Agents: agents, Supernodes: p.Supernodes, Threshold: p.Threshold,
		FakeInstaller: !z.opts.RealInstallers, ReadyTimeout: z.opts.readyTimeout(p.Timeout), OnEvent: z.ev.record,
		Progress: progress, ArtifactBytes: int(p.ArtifactBytes)}
}

// configure gives the node name its place netName on the network and the
// sim's settings.
func configure(net *network, p testnet.Params, netName, name string, cfg *node.Config) {
	listen, opts := net.endpoint(netName, name == "publisher")
	cfg.Overlay.ListenAddrs = []string{listen}
	if strings.HasPrefix(name, "agent-") {
		// Lean agents: the DHT lookups that find an agent its
		// peers leave it connected to everyone they asked, and
		// every QUIC connection costs memory; the bootstrap nodes
		// keep the production water marks.
		cfg.Overlay.Resources.ConnLow, cfg.Overlay.Resources.ConnHigh = agentConnLow, agentConnHigh
	}
	if strings.HasPrefix(name, "supernode-") {
		// Every agent fetches from its co-signing supernodes
		// (content seeds): at the production marks (limit 256
		// connections) most of a 1,000-agent zone's fetchers
		// were refused and went to the vendor URL.
		cfg.Overlay.Resources.ConnLow, cfg.Overlay.Resources.ConnHigh = supernodeConnLow, supernodeConnHigh
	}
	cfg.HostOptions = opts
	cfg.Overlay.Score.InspectInterval = duration.Duration(simScoreInspect)
	// nodelab's 1 s bootstrap interval suits a dozen test nodes;
	// a thousand ticking every second (bootstrap check, DHT
	// discovery, the supernode relink scan) is CPU the deployment
	// would not spend.
	cfg.Overlay.BootstrapInterval = node.Duration(overlay.DefaultBootstrapInterval)
	// Lean state: badger allocates its whole memtable at open,
	// 4 MiB by default, most of an idle node's memory.
	cfg.StateDBMemTable = node.MinStateDBMemTable
	cfg.Overlay.Gossip.SubscriptionBuffer = simSubscriptionBuffer
	// The descriptor budget covers what the node's water marks let it
	// hold (a supernode's thousand agents over tcp): the sim's nodes
	// share one process, not one host's descriptors, and the fabric's
	// connections take none.
	cfg.Overlay.Resources.MaxFileDescriptors = max(overlay.DefaultResourceFDs, cfg.Overlay.Resources.MaxConns())
	if p.Scenario == testnet.ScenarioPartition {
		partitionTimers(cfg)
	}
}

// close stops the zone's nodes, and the private zone's beside it.
func (z *zone) close() {
	if z.private != nil {
		z.private.lab.Close()
	}
	z.lab.Close()
}

// publish publishes the lab's fix and marks the time.
func (z *zone) publish(ctx context.Context) error {
	fix, err := z.lab.Fix(ctx, z.fixID, 1)
	if err != nil {
		return fmt.Errorf("making the fix: %w", err)
	}
	if s := z.params.RolloutSpread; s > 0 {
		fix.Patchnet.Rollout = &updates.Rollout{Spread: updates.Duration(s)}
	}
	return z.publishAnnouncement(ctx, fix)
}

// publishAnnouncement publishes fix as the zone's publisher and marks the
// time; the report's wrong installs are anything but fix.
func (z *zone) publishAnnouncement(ctx context.Context, fix *updates.Announcement) error {
	z.fix = fix
	if err := z.watchAnnouncements(); err != nil {
		return err
	}
	if z.edges == nil {
		z.edges = zoneEdges(z.lab.Members())
	}
	z.t0 = time.Now()
	if _, err := z.lab.Publisher.Publish(ctx, fix); err != nil {
		return fmt.Errorf("publishing %s: %w", fix.ID, err)
	}
	z.opts.published(fix, z.t0)
	return nil
}

// watchAnnouncements subscribes the zone's first agent to the announce
// topic a second time, beside its node, unless the zone already watches:
// every announcement the agent delivers from now on is also queued there.
func (z *zone) watchAnnouncements() error {
	if z.watch != nil || len(z.lab.Agents) == 0 {
		return nil
	}
	ov := z.lab.Agents[0].Overlay()
	sub, err := ov.Subscribe(ov.AnnounceTopic())
	if err != nil {
		return fmt.Errorf("watching the announce topic: %w", err)
	}
	z.watch = sub
	return nil
}

// announcementBytes is the size of the first announcement the first agent
// delivered after watchAnnouncements, its co-signatures included: the
// message the raw gossipsub baseline stands for; 0 when that agent
// accepted none. An agent that accepted was delivered a message, so the
// watch holds one too (pubsub hands each message to every subscription
// of the node) and the read does not wait on chance. It ends the watch.
func (z *zone) announcementBytes(ctx context.Context) int64 {
	if z.watch == nil {
		return 0
	}
	defer z.watch.Close()
	if _, ok := z.ev.at(z.lab.Agents[0].ID(), node.EventAccepted); !ok {
		return 0
	}
	m, err := z.watch.Next(ctx)
	if err != nil {
		return 0
	}
	return int64(len(m.Data))
}

// waitFor waits until every agent in set had an event of kind, or the
// run's timeout, or ctx ends; it reports progress as stage. It returns how
// many got there.
func (z *zone) waitFor(ctx context.Context, set []*nodelab.Member, kind node.EventKind, stage string, progress testnet.Progress) int {
	deadline := time.NewTimer(z.params.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	// Each poll reads only the events new since the last: recounting
	// every node's events 50 times a second took 7 % of a 1,000-node
	// zone's CPU while it propagated.
	want := make(map[peer.ID]bool, len(set))
	for _, m := range set {
		want[m.ID()] = true
	}
	n, read, last := 0, 0, -1
	for {
		news := z.ev.firsts(kind, read)
		read += len(news)
		for _, p := range news {
			if want[p] {
				n++
			}
		}
		if n != last {
			progress(stage, n, len(set))
			last = n
		}
		if n == len(set) {
			return n
		}
		select {
		case <-ctx.Done():
			return n
		case <-deadline.C:
			return n
		case <-tick.C:
		}
	}
}

// since is how long after publication p first had an event of kind (0: it
// had none).
func (z *zone) since(p peer.ID, kind node.EventKind) time.Duration {
	at, ok := z.ev.at(p, kind)
	if !ok {
		return 0
	}
	return max(at.Sub(z.t0), time.Nanosecond)
}

// receipt is when the announcement first reached p: the arrival of the
// message behind its first pending (fewer than k co-signatures yet) or
// accepted event, before p's checks.
func (z *zone) receipt(p peer.ID) time.Duration {
	at, ok := z.ev.arrival(p)
	if !ok {
		return 0
	}
	return max(at.Sub(z.t0), time.Nanosecond)
}

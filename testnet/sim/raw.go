package sim

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
)

const (
	// rawTopic is the baseline's one topic.
	rawTopic = "/sim/raw"
	// originProtocol serves the HTTP-origin baseline's artifact: the whole
	// file on every stream, as an HTTP GET of it would.
	originProtocol = "/sim/origin/1.0.0"
	// rawMessageBytes is the size of the baseline's message when the
	// zone's announcement was not observed (zone.announcementBytes), and of
	// the flooding peer's junk: about one signed envelope.
	rawMessageBytes = 4 << 10
	// rawMeshStable is how long the raw meshes must stay unchanged before
	// the baseline publishes: two gossipsub heartbeats.
	rawMeshStable = 2 * time.Second
	// rawMeshSettle bounds the wait for the raw meshes to stop changing.
	rawMeshSettle = 30 * time.Second
	// rawDialAttempts is how often a baseline connection is tried.
	rawDialAttempts = 3
	// originDialAttempts is how often an HTTP-baseline client tries to
	// download from the origin: as often as Linux sends a TCP SYN
	// (tcp_syn_retries, 6 retransmissions), waiting rawRedialWait doubling
	// in between, about a minute.
	originDialAttempts = 7
	// rawDialTimeout bounds one baseline dial.
	rawDialTimeout = 10 * time.Second
	// rawRedialWait is the wait before a baseline dial's second attempt,
	// doubling for each one after (a TCP SYN's first retransmission).
	rawRedialWait = time.Second
)

// rawNode is one baseline host: plain libp2p over the same simulated
// network and link caps as the patchnet node it stands beside, with
// gossipsub at its defaults (no validator, no scoring).
type rawNode struct {
	name  string
	h     host.Host
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	dup   atomic.Int64
	graft atomic.Int64
	prune atomic.Int64
	got   atomic.Int64 // unix nanos of the first delivery of the round's message
	round atomic.Int64 // the round being measured (publishRaw)
}

// rawTracer counts a raw node's grafts, prunes and duplicates.
type rawTracer struct{ n *rawNode }

func (t rawTracer) Graft(peer.ID, string)                              { t.n.graft.Add(1) }
func (t rawTracer) DuplicateMessage(*pubsub.Message)                   { t.n.dup.Add(1) }
func (t rawTracer) Prune(peer.ID, string)                              { t.n.prune.Add(1) }
func (rawTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (rawTracer) OnClosedOutboundStream(peer.ID)                       {}
func (rawTracer) Join(string)                                          {}
func (rawTracer) Leave(string)                                         {}
func (rawTracer) ValidateMessage(*pubsub.Message)                      {}
func (rawTracer) DeliverMessage(*pubsub.Message)                       {}
func (rawTracer) RejectMessage(*pubsub.Message, string)                {}
func (rawTracer) UndeliverableMessage(*pubsub.Message)                 {}
func (rawTracer) ThrottlePeer(peer.ID)                                 {}
func (rawTracer) RecvRPC(*pubsub.RPC)                                  {}
func (rawTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (rawTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (rawTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}

// rawBaseline runs the raw gossipsub and HTTP-origin baselines beside the
// zone: one plain host per patchnet node, connected as the patchnet nodes
// were at the first publication (same topology, same links); the publisher's
// counterpart publishes one message and then serves the artifact to every
// agent's counterpart.
func rawBaseline(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	members := z.lab.Members()
	edges := z.edges
	if edges == nil {
		edges = zoneEdges(members)
	}
	// The baselines run alone, as patchnet ran alone: a thousand idle
	// patchnet nodes beside them would take their CPU (the zone's
	// heartbeats, DHT and badger tickers use most of a core).
	z.lab.Close()
	nodes := make(map[peer.ID]*rawNode, len(members))
	var all []*rawNode
	defer func() {
		for _, n := range all {
			n.h.Close()
		}
	}()
	for i, m := range members {
		n, err := newRawNode(ctx, z.net, m.Name, m == z.lab.Publisher)
		if err != nil {
			return err
		}
		nodes[m.ID()], all = n, append(all, n)
		progress("baseline starting", i+1, len(members))
	}
	if err := connectAsZone(ctx, edges, nodes, progress); err != nil {
		return err
	}
	if !waitRawMeshes(ctx, all, z.params.Timeout) {
		return fmt.Errorf("raw gossipsub baseline: meshes not formed within %v", z.params.Timeout)
	}
	pub := nodes[z.lab.Publisher.ID()]
	// The same bytes on the wire as the zone's announcement: a smaller
	// message would make the floor lower by its size, not by patchnet's
	// checks (a co-signed announcement is ~7 KB, twice the fallback).
	size := rep.AnnouncementBytes
	if size == 0 {
		size = rawMessageBytes
	}
	agents := make([]*rawNode, 0, len(z.lab.Agents))
	for _, m := range z.lab.Agents {
		agents = append(agents, nodes[m.ID()])
	}
	rounds := make([][]time.Duration, rawRounds)
	for r := range rounds {
		var err error
		if rounds[r], err = publishRaw(ctx, pub, all, agents, r, int(size), z.params.Timeout, progress); err != nil {
			return err
		}
	}
	median := medianRound(rounds, len(agents))
	rep.Results[testnet.ResultRawGossipsub] = testnet.Summarize(median, len(agents))
	for _, times := range rounds {
		rep.RawRoundsMaxMS = append(rep.RawRoundsMaxMS, testnet.Summarize(times, len(agents)).MaxMS)
	}
	var dup int64
	for _, n := range all {
		dup += n.dup.Load()
	}
	rep.RawDuplicatesPerMessage = float64(dup) / float64(len(all)-1) / rawRounds
	return httpOrigin(ctx, z, rep, pub, agents, progress)
}

// newRawNode starts a plain host on name's place in the network (its own
// address: "raw/" + name) and subscribes it to the baseline topic.
func newRawNode(ctx context.Context, net *network, name string, origin bool) (*rawNode, error) {
	listen, opts := net.endpoint("raw/"+name, origin)
	opts = append(opts, libp2p.ListenAddrStrings(listen),
		libp2p.ResourceManager(&lpnet.NullResourceManager{}), libp2p.DisableMetrics())
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("raw baseline: starting %s's host: %w", name, err)
	}
	n := &rawNode{name: name, h: h}
	if n.ps, err = pubsub.NewGossipSub(ctx, h, pubsub.WithRawTracer(rawTracer{n: n})); err != nil {
		h.Close()
		return nil, fmt.Errorf("raw baseline: starting %s's gossipsub: %w", name, err)
	}
	n.topic, err = n.ps.Join(rawTopic)
	if err == nil {
		n.sub, err = n.topic.Subscribe()
	}
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("raw baseline: subscribing %s: %w", name, err)
	}
	go n.read(ctx)
	return n, nil
}

// read records when the first message arrived.
func (n *rawNode) read(ctx context.Context) {
	for {
		m, err := n.sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom != n.h.ID() && len(m.Data) >= 8 && int64(binary.BigEndian.Uint64(m.Data)) == n.round.Load() {
			n.got.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
}

// zoneEdges are the connections between members now, each pair once.
func zoneEdges(members []*nodelab.Member) [][2]peer.ID {
	in := map[peer.ID]bool{}
	for _, m := range members {
		in[m.ID()] = true
	}
	var edges [][2]peer.ID
	for _, m := range members {
		for _, p := range m.Overlay().Host().Network().Peers() {
			if in[p] && m.ID() < p {
				edges = append(edges, [2]peer.ID{m.ID(), p})
			}
		}
	}
	return edges
}

// connectAsZone connects the raw nodes as the patchnet nodes were
// connected (zoneEdges), each dial tried up to rawDialAttempts times
// (dialRetrying: a handshake can time out on a loaded machine). More than a hundredth of the
// edges failing is an error; fewer leave the topology nearly the zone's.
func connectAsZone(ctx context.Context, zone [][2]peer.ID, nodes map[peer.ID]*rawNode, progress testnet.Progress) error {
	type edge struct{ a, b *rawNode }
	var edges []edge
	for _, e := range zone {
		edges = append(edges, edge{nodes[e[0]], nodes[e[1]]})
	}
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	var lastErr atomic.Value
	sem := make(chan struct{}, 64)
	for _, e := range edges {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			defer func() { progress("baseline connecting", int(done.Add(1)), len(edges)) }()
			ai := peer.AddrInfo{ID: e.b.h.ID(), Addrs: e.b.h.Addrs()}
			if err := dialRetrying(ctx, e.a.h, ai, rawDialAttempts, rawDialTimeout, rawRedialWait); err != nil {
				failed.Add(1)
				lastErr.Store(err.Error())
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n*100 > int64(len(edges)) {
		return fmt.Errorf("raw baseline: %d of the zone's %d connections failed, the last: %v", n, len(edges), lastErr.Load())
	}
	return nil
}

// waitRawMeshes waits until every raw node grafted a mesh peer, then
// until the meshes stop growing (the sum over every node unchanged for
// rawMeshStable): a mesh of one just-grafted peer spreads a message by
// heartbeat gossip, seconds slower than the settled meshes of the zone it
// stands beside. Meshes still changing after rawMeshSettle are taken as
// they are.
func waitRawMeshes(ctx context.Context, all []*rawNode, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	grafted := waitUntil(ctx, timeout, func() bool {
		for _, n := range all {
			if n.graft.Load() == 0 {
				return false
			}
		}
		return true
	})
	if !grafted {
		return false
	}
	waitSteady(ctx, min(time.Until(deadline), rawMeshSettle), func() (sum int64) {
		for _, n := range all {
			sum += n.graft.Load() - n.prune.Load()
		}
		return sum
	})
	return true
}

// waitSteady waits until count has not changed for rawMeshStable (two
// gossipsub heartbeats), at most bound.
func waitSteady(ctx context.Context, bound time.Duration, count func() int64) {
	last, since := int64(-1), time.Now()
	waitUntil(ctx, bound, func() bool {
		if c := count(); c != last {
			last, since = c, time.Now()
		}
		return time.Since(since) >= rawMeshStable
	})
}

// waitUntil polls cond until it holds, the timeout passes or ctx ends.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(pollInterval)
	}
	return true
}

// publishRaw publishes round r's message from pub (size bytes, the round
// number first) once the previous round's gossip has died down (no
// duplicate delivered anywhere for two heartbeats, at most rawRoundGap),
// and returns the agents' delivery times.
func publishRaw(ctx context.Context, pub *rawNode, all, agents []*rawNode, r, size int, timeout time.Duration, progress testnet.Progress) ([]time.Duration, error) {
	if r > 0 {
		waitSteady(ctx, rawRoundGap, func() (sum int64) {
			for _, n := range all {
				sum += n.dup.Load()
			}
			return sum
		})
	}
	for _, n := range agents {
		n.round.Store(int64(r))
		n.got.Store(0)
	}
	msg := make([]byte, max(size, 8))
	rand.Read(msg)
	binary.BigEndian.PutUint64(msg, uint64(r))
	t0 := time.Now()
	if err := pub.topic.Publish(ctx, msg); err != nil {
		return nil, fmt.Errorf("raw gossipsub baseline: publishing round %d: %w", r+1, err)
	}
	return waitRaw(ctx, agents, t0, timeout, rawRoundQuiet, progress), nil
}

// medianRound is the round whose last delivery is the median of the
// rounds' (a round that missed agents counts as the slowest): one
// publication's time to the last node varied from 1.1 to 2.5 s between
// runs of the same 1,000-node zone, and the floor patchnet is compared
// against should be neither the luckiest nor the unluckiest.
func medianRound(rounds [][]time.Duration, agents int) []time.Duration {
	last := func(times []time.Duration) time.Duration {
		switch {
		case len(times) < agents:
			return time.Duration(math.MaxInt64)
		case len(times) == 0:
			return 0
		}
		return slices.Max(times)
	}
	sorted := slices.Clone(rounds)
	slices.SortStableFunc(sorted, func(a, b []time.Duration) int { return cmp.Compare(last(a), last(b)) })
	return sorted[len(sorted)/2]
}

// waitRaw waits until every agent's counterpart got the message, or
// none got it for quiet (rawRoundQuiet: no more will), or timeout passed
// since t0, and returns the delivery times.
func waitRaw(ctx context.Context, agents []*rawNode, t0 time.Time, timeout, quiet time.Duration, progress testnet.Progress) []time.Duration {
	deadline := t0.Add(timeout)
	var times []time.Duration
	last, changed := -1, time.Now()
	for {
		times = times[:0]
		for _, n := range agents {
			if at := n.got.Load(); at != 0 {
				times = append(times, time.Unix(0, at).Sub(t0))
			}
		}
		if len(times) != last {
			progress("raw received", len(times), len(agents))
			last, changed = len(times), time.Now()
		}
		if len(times) == len(agents) || time.Since(changed) >= quiet || time.Now().After(deadline) || ctx.Err() != nil {
			return times
		}
		time.Sleep(pollInterval)
	}
}

// httpOrigin is the HTTP-origin baseline: every agent's counterpart
// downloads the artifact from the publisher's counterpart (the origin,
// its uplink capped as the patchnet origin's), all at once, over the same
// links; nobody shares.
func httpOrigin(ctx context.Context, z *zone, rep *testnet.Report, origin *rawNode, agents []*rawNode, progress testnet.Progress) error {
	size := z.lab.ArtifactSize()
	file := make([]byte, size)
	rand.Read(file)
	origin.h.SetStreamHandler(originProtocol, func(s lpnet.Stream) {
		defer s.Close()
		s.Write(file)
	})
	t0 := time.Now()
	times := make([]time.Duration, len(agents))
	var done atomic.Int64
	var wg sync.WaitGroup
	for i, n := range agents {
		// As an HTTP client knows its origin's URL: the address is given,
		// whether or not the zone's topology connected them.
		n.h.Peerstore().AddAddrs(origin.h.ID(), origin.h.Addrs(), time.Hour)
		wg.Go(func() {
			if fetchOrigin(ctx, n.h, origin.h.ID(), size, z.params.Timeout) {
				times[i] = time.Since(t0)
				progress("origin fetched", int(done.Add(1)), len(agents))
			}
		})
	}
	wg.Wait()
	var got []time.Duration
	for _, d := range times {
		if d > 0 {
			got = append(got, d)
		}
	}
	rep.Results[testnet.ResultHTTPOrigin] = testnet.Summarize(got, len(agents))
	rep.HTTPOriginEgressBytes = z.net.sent("raw/" + z.lab.Publisher.Name)
	return nil
}

// retrying runs try up to attempts times, waiting wait before the second
// and twice as long before each one after (as a TCP client retransmits its
// SYN), until it succeeds or ctx ends; it returns try's last error.
func retrying(ctx context.Context, attempts int, wait time.Duration, try func() error) error {
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (after %v)", ctx.Err(), err)
			case <-time.After(wait):
			}
			wait *= 2
		}
		if err = try(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%d attempts: %w", attempts, err)
}

// connectOnce dials ai from h once, within timeout, skipping the dial
// backoff libp2p's swarm keeps for a peer it failed to reach (which would
// fail a retry at once, making three attempts one): a TCP client has
// none, and the baselines stand for TCP clients.
func connectOnce(ctx context.Context, h host.Host, ai peer.AddrInfo, timeout time.Duration) error {
	dctx, cancel := context.WithTimeout(lpnet.WithForceDirectDial(ctx, "baseline retry"), timeout)
	defer cancel()
	return h.Connect(dctx, ai)
}

// dialRetrying connects h to ai in up to attempts tries of timeout each,
// wait doubling between them (retrying, connectOnce).
func dialRetrying(ctx context.Context, h host.Host, ai peer.AddrInfo, attempts int, timeout, wait time.Duration) error {
	err := retrying(ctx, attempts, wait, func() error { return connectOnce(ctx, h, ai, timeout) })
	if err != nil {
		return fmt.Errorf("dialing %s: %w", ai.ID, err)
	}
	return nil
}

// fetchOrigin downloads the whole artifact from the origin, trying again
// as an HTTP client does whose connection failed or was dropped (a busy
// origin refuses handshakes past its accept queue, quic-go's 32, and may
// close a connection its client already counts as up): up to
// originDialAttempts attempts, rawRedialWait doubling apart, within
// timeout.
func fetchOrigin(ctx context.Context, h host.Host, origin peer.ID, size int64, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ai := peer.AddrInfo{ID: origin, Addrs: h.Peerstore().Addrs(origin)}
	return retrying(ctx, originDialAttempts, rawRedialWait, func() error { return fetchOriginOnce(ctx, h, ai, size) }) == nil
}

// fetchOriginOnce is one attempt of fetchOrigin: connect, open a stream,
// read the whole artifact.
func fetchOriginOnce(ctx context.Context, h host.Host, ai peer.AddrInfo, size int64) error {
	if err := connectOnce(ctx, h, ai, rawDialTimeout); err != nil {
		return err
	}
	s, err := h.NewStream(ctx, ai.ID, originProtocol)
	if err != nil {
		return fmt.Errorf("opening a stream: %w", err)
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetReadDeadline(d)
	}
	n, err := io.Copy(io.Discard, s)
	if n != size {
		return fmt.Errorf("read %d of %d bytes: %v", n, size, err)
	}
	return nil
}

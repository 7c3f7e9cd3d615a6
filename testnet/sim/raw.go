package sim

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/rawgossip"
)

const (
	// originProtocol serves the HTTP-origin baseline's artifact: the whole
	// file on every stream, as an HTTP GET of it would.
	originProtocol = "/sim/origin/1.0.0"
	// originDialAttempts is how often an HTTP-baseline client tries to
	// download from the origin: as often as Linux sends a TCP SYN
	// (tcp_syn_retries, 6 retransmissions), waiting RedialWait doubling
	// in between, about a minute.
	originDialAttempts = 7
)

// rawNode is one baseline host: a rawgossip.Peer over the same simulated
// network and link caps as the patchnet node it stands beside.
type rawNode struct {
	*rawgossip.Peer
	h host.Host
}

// rawBaseline runs the raw gossipsub and HTTP-origin baselines beside the
// zone: one plain host per patchnet node, connected as the patchnet nodes
// were at the first publication (same topology, same links); the publisher's
// counterpart publishes one message and then serves the artifact to every
// agent's counterpart.
func rawBaseline(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	zoneMembers := z.lab.Members()
	edges := z.edges
	if edges == nil {
		edges = zoneEdges(zoneMembers)
	}
	// The baselines run alone, as patchnet ran alone: a thousand idle
	// patchnet nodes beside them would take their CPU (the zone's
	// heartbeats, DHT and badger tickers use most of a core).
	z.lab.Close()
	nodes := make(map[peer.ID]*rawNode, len(zoneMembers))
	var all []*rawNode
	defer func() {
		for _, n := range all {
			n.h.Close()
		}
	}()
	for i, m := range zoneMembers {
		n, err := newRawNode(ctx, z.net, m.Name, m == z.lab.Publisher)
		if err != nil {
			return err
		}
		nodes[m.ID()], all = n, append(all, n)
		progress("baseline starting", i+1, len(zoneMembers))
	}
	if err := connectAsZone(ctx, edges, nodes, progress); err != nil {
		return err
	}
	members := make([]rawgossip.Member, len(all))
	for i, n := range all {
		members[i] = n
	}
	if !rawgossip.WaitMeshes(ctx, members, z.params.Timeout) {
		return fmt.Errorf("raw gossipsub baseline: meshes not formed within %v", z.params.Timeout)
	}
	pub := nodes[z.lab.Publisher.ID()]
	// The same bytes on the wire as the zone's announcement: a smaller
	// message would make the floor lower by its size, not by patchnet's
	// checks (a co-signed announcement is ~7 KB, twice the fallback).
	size := rep.AnnouncementBytes
	if size == 0 {
		size = rawgossip.MessageBytes
	}
	agents := make([]*rawNode, 0, len(z.lab.Agents))
	receivers := make([]rawgossip.Member, 0, len(z.lab.Agents))
	for _, m := range z.lab.Agents {
		agents, receivers = append(agents, nodes[m.ID()]), append(receivers, nodes[m.ID()])
	}
	out, err := rawgossip.Run(ctx, pub, members, receivers, int(size), z.params.Timeout, progress)
	if err != nil {
		return fmt.Errorf("raw gossipsub baseline: %w", err)
	}
	out.Fill(rep, len(agents))
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
	p, err := rawgossip.New(ctx, h)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("raw baseline: %s: %w", name, err)
	}
	return &rawNode{Peer: p, h: h}, nil
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
// connected (zoneEdges), each dial tried as rawgossip.Dial does. More than a hundredth of the
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
			if err := rawgossip.Dial(ctx, e.a.h, ai); err != nil {
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

// fetchOrigin downloads the whole artifact from the origin, trying again
// as an HTTP client does whose connection failed or was dropped (a busy
// origin refuses handshakes past its accept queue, quic-go's 32, and may
// close a connection its client already counts as up): up to
// originDialAttempts attempts, RedialWait doubling apart, within
// timeout.
func fetchOrigin(ctx context.Context, h host.Host, origin peer.ID, size int64, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ai := peer.AddrInfo{ID: origin, Addrs: h.Peerstore().Addrs(origin)}
	return rawgossip.Retrying(ctx, originDialAttempts, rawgossip.RedialWait, func() error { return fetchOriginOnce(ctx, h, ai, size) }) == nil
}

// fetchOriginOnce is one attempt of fetchOrigin: connect, open a stream,
// read the whole artifact.
func fetchOriginOnce(ctx context.Context, h host.Host, ai peer.AddrInfo, size int64) error {
	if err := rawgossip.ConnectOnce(ctx, h, ai, rawgossip.DialTimeout); err != nil {
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

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet/rawgossip"
)

// rawGossipsub is the raw gossipsub baseline on the zone's namespaces and
// links: a `patchnet testnet raw-gossip` peer in the namespace of the
// publisher, of each supernode and of each agent, connected as the
// daemons are (their connections, read from their local APIs; the
// publisher's peer to every supernode, as publish dials them), publishing
// rawgossip.Rounds messages of size bytes from the publisher's namespace.
// It has Params.Timeout of its own (from ctx). The daemons run on beside
// it, idle once the scenario is over.
func rawGossipsub(ctx context.Context, c *cluster, size int) (rawgossip.Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, c.p.Timeout)
	defer cancel()
	daemons := append(c.supernodes(), c.agents...)
	edges, err := c.edges(ctx, daemons)
	if err != nil {
		return rawgossip.Outcome{}, err
	}
	for _, s := range c.supernodes() {
		edges = append(edges, [2]string{"pub", s})
	}
	peers := map[string]*rawgossip.Remote{}
	defer func() {
		for _, r := range peers {
			r.Close()
		}
	}()
	names := append([]string{"pub"}, daemons...)
	for i, name := range names {
		c.progress("raw gossip peers", i, len(names))
		nd := c.net.Node(name)
		cmd := nd.Command(ctx, c.kit.Bin, "testnet", "raw-gossip", "--listen", "/ip4/"+nd.Addr.String()+"/tcp/0")
		r, err := rawgossip.Start(ctx, name, cmd)
		if err != nil {
			return rawgossip.Outcome{}, err
		}
		peers[name] = r
	}
	c.progress("raw gossip peers", len(names), len(names))
	if err := connectRaw(ctx, peers, edges); err != nil {
		return rawgossip.Outcome{}, err
	}
	all := make([]rawgossip.Member, 0, len(names))
	for _, name := range names {
		all = append(all, peers[name])
	}
	if !rawgossip.WaitMeshes(ctx, all, c.p.Timeout) {
		return rawgossip.Outcome{}, fmt.Errorf("raw gossipsub baseline: meshes not formed within %v", c.p.Timeout)
	}
	return rawgossip.Run(ctx, peers["pub"], all, all[1+len(c.supernodes()):], size, c.p.Timeout, c.progress)
}

// edges are the connections between the named daemons now, each pair
// once, from their local APIs: a connection's remote address is its
// peer's namespace.
func (c *cluster) edges(ctx context.Context, daemons []string) ([][2]string, error) {
	byAddr := map[netip.Addr]string{}
	for _, name := range daemons {
		byAddr[c.net.Node(name).Addr] = name
	}
	clients := map[string]*node.APIClient{}
	defer closeClients(clients)
	var edges [][2]string
	for _, name := range daemons {
		st, err := c.status(ctx, clients, name)
		if err != nil {
			return nil, err
		}
		for _, p := range st.Peers {
			other := peerName(byAddr, p.Addrs)
			if other != "" && name < other {
				edges = append(edges, [2]string{name, other})
			}
		}
	}
	return edges, nil
}

// peerName is the daemon whose address one of a peer's connections
// came from ("": none of them).
func peerName(byAddr map[netip.Addr]string, addrs []string) string {
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		ip, err := manet.ToIP(m)
		if err != nil {
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok && byAddr[a.Unmap()] != "" {
			return byAddr[a.Unmap()]
		}
	}
	return ""
}

// connectRaw has the first peer of each edge dial the second,
// RawDialParallel at a time: hundreds of handshakes at once over 10 Mbit/s
// links overflowed the supernodes' tbf queues and timed dials out (a
// 50-agent zone has about 800 edges). Any dial that fails is the
// baseline's error (tens of peers: each edge is a share of the topology).
func connectRaw(ctx context.Context, peers map[string]*rawgossip.Remote, edges [][2]string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(edges))
	sem := make(chan struct{}, RawDialParallel)
	for i, e := range edges {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = peers[e[0]].Dial(ctx, peers[e[1]].Addr())
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("raw gossipsub baseline: %w", err)
		}
	}
	return nil
}

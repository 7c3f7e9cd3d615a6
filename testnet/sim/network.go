package sim

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/marcopolo/simnet"
	"github.com/quic-go/quic-go"
	"go.uber.org/fx"

	"github.com/patchnet/patchnet/testnet"
)

// network is the simulated network every node of a run is an endpoint of:
// one address per node name (kept across restarts), one egress counter
// per node, and a cut the partition scenario puts up and takes down.
type network struct {
	fab    *fabric
	params testnet.Params
	cut    cut

	mu       sync.Mutex
	index    map[string]int
	counters map[string]*egress
}

func newNetwork(p testnet.Params) *network {
	n := &network{params: p, index: map[string]int{}, counters: map[string]*egress{}}
	n.fab = newFabric(p.Latency, p.Jitter, p.Loss, &n.cut)
	return n
}

// close stops the network's links and router.
func (n *network) close() { n.fab.close() }

// endpoint is name's listen address and host options: the run's
// transport alone (Params.Transport: QUIC on a socket of the fabric, or
// TCP on its streams) on the node's link caps, and its bandwidth counter.
// origin caps the node's uplink at Params.OriginBandwidth.
func (n *network) endpoint(name string, origin bool) (listen string, opts []libp2p.Option) {
	n.mu.Lock()
	i := n.indexOf(name)
	e, ok := n.counters[name]
	if !ok {
		e = &egress{}
		n.counters[name] = e
	}
	n.mu.Unlock()
	up := n.params.Bandwidth
	if origin && n.params.OriginBandwidth > 0 {
		up = n.params.OriginBandwidth
	}
	ip := simnet.IntToPublicIPv4(i)
	if n.params.Transport == testnet.TransportTCP {
		listen = fmt.Sprintf("/ip4/%s/tcp/%d", ip, simPort)
		return listen, []libp2p.Option{n.tcpOnFabric(ip, up, n.params.Bandwidth), libp2p.BandwidthReporter(e)}
	}
	listen = fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", ip, simPort)
	return listen, []libp2p.Option{n.quicOnFabric(up, n.params.Bandwidth), libp2p.BandwidthReporter(e)}
}

// indexOf is name's number on the network, given on first use; n.mu held.
func (n *network) indexOf(name string) int {
	i, ok := n.index[name]
	if !ok {
		i = len(n.index) + 1
		n.index[name] = i
	}
	return i
}

// addr is name's IP address on the network.
func (n *network) addr(name string) netip.Addr {
	n.mu.Lock()
	i := n.indexOf(name)
	n.mu.Unlock()
	ip, _ := netip.AddrFromSlice(simnet.IntToPublicIPv4(i).To4())
	return ip
}

// split cuts every link between the nodes named in a and those in b.
func (n *network) split(a, b []string) {
	ips := func(names []string) []netip.Addr {
		out := make([]netip.Addr, len(names))
		for i, name := range names {
			out[i] = n.addr(name)
		}
		return out
	}
	n.cut.split(ips(a), ips(b))
}

// heal restores the links split cut.
func (n *network) heal() { n.cut.heal() }

// sent is the artifact bytes name's node sent: patchnet's content
// transfer, or (raw nodes) the HTTP-origin baseline's.
func (n *network) sent(name string) int64 {
	n.mu.Lock()
	e := n.counters[name]
	n.mu.Unlock()
	if e == nil {
		return 0
	}
	return e.content.Load() + e.origin.Load()
}

// sourceIP answers QUIC's question which source IP to send from: the
// endpoint's one address.
type sourceIP struct{ ip atomic.Pointer[net.IP] }

func (s *sourceIP) PreferredSourceIPForDestination(*net.UDPAddr) (net.IP, error) {
	return *s.ip.Load(), nil
}

// quicOnFabric is libp2p's QUIC transport on an endpoint of the network's
// fabric whose link sends up and receives down bytes per second (0:
// uncapped), the host's only transport: x/simlibp2p.QUICSimnet's wiring
// (quicreuse's documented overrides for the UDP socket and the source IP)
// on the fabric's socket.
func (n *network) quicOnFabric(up, down int64) libp2p.Option {
	src := &sourceIP{}
	listen := quicreuse.OverrideListenUDP(func(_ string, addr *net.UDPAddr) (net.PacketConn, error) {
		src.ip.Store(&addr.IP)
		return n.fab.endpoint(addr, up, down), nil
	})
	selector := quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return src, nil })
	return libp2p.ChainOptions(libp2p.NoTransports, libp2p.Transport(libp2pquic.NewTransport), libp2p.QUICReuse(func(l fx.Lifecycle, reset quic.StatelessResetKey, token quic.TokenGeneratorKey, opts ...quicreuse.Option) (*quicreuse.ConnManager, error) {
		cm, err := quicreuse.NewConnManager(reset, token, opts...)
		if err != nil {
			return nil, err
		}
		// A conn manager passed in is the caller's to close; libp2p closes
		// only the one it makes itself.
		l.Append(fx.StopHook(cm.Close))
		return cm, nil
	}, listen, selector))
}

package sim

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/marcopolo/simnet"
	"github.com/quic-go/quic-go"
	"go.uber.org/fx"
)

// cut is a partition of the simulated network: while it is up, every
// datagram between endpoints on different sides is dropped, in both
// directions, as on a link that went dark. simnet (v0.0.7) routes every
// packet and offers no way to drop one between chosen endpoints (its
// router's only per-packet hook, LatencyFunc, can delay a packet but not
// drop it), so the cut sits in each endpoint's socket instead: a datagram
// for the other side is dropped as it is written, one from the other side
// as it is read (a packet in flight when the cut went up). Nodes see what
// a real partition shows them: silence, retransmissions, transport
// timeouts — no connection is closed for them, no dial refused.
type cut struct {
	mu   sync.RWMutex
	side map[netip.Addr]int // endpoint → side while the cut is up; absent: no side
	up   bool

	dropped atomic.Int64 // datagrams the cut dropped
}

// split puts the cut up between the endpoints of a and the endpoints of b;
// endpoints in neither reach everyone.
func (c *cut) split(a, b []netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.side = map[netip.Addr]int{}
	for _, ip := range a {
		c.side[ip] = 1
	}
	for _, ip := range b {
		c.side[ip] = 2
	}
	c.up = true
}

// heal takes the cut down: every datagram is routed again.
func (c *cut) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up = false
}

// drops reports whether the cut drops a datagram between from and to, and
// counts it if so.
func (c *cut) drops(from, to net.Addr) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.up {
		return false
	}
	sf, st := c.side[ipOf(from)], c.side[ipOf(to)]
	if sf == 0 || st == 0 || sf == st {
		return false
	}
	c.dropped.Add(1)
	return true
}

// ipOf is addr's IP (zero if addr is no UDP address).
func ipOf(addr net.Addr) netip.Addr {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip, _ := netip.AddrFromSlice(u.IP)
	return ip.Unmap()
}

// cutConn is a simnet endpoint behind the network's cut.
type cutConn struct {
	*simnet.SimConn
	cut *cut
}

// WriteTo drops a datagram for the other side of the cut (as the network
// would: the sender learns nothing) and sends the others.
func (c *cutConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.cut.drops(c.LocalAddr(), addr) {
		return len(p), nil
	}
	return c.SimConn.WriteTo(p, addr)
}

// ReadFrom skips datagrams from the other side of the cut.
func (c *cutConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.SimConn.ReadFrom(p)
		if err != nil || !c.cut.drops(from, c.LocalAddr()) {
			return n, from, err
		}
	}
}

// sourceIP answers QUIC's question which source IP to send from: the
// endpoint's one address.
type sourceIP struct{ ip atomic.Pointer[net.IP] }

func (s *sourceIP) PreferredSourceIPForDestination(*net.UDPAddr) (net.IP, error) {
	return *s.ip.Load(), nil
}

// quicBehindCut is libp2p's QUIC transport on a simnet endpoint behind
// the network's cut, with link's caps: x/simlibp2p.QUICSimnet's wiring
// (quicreuse's documented overrides for the UDP socket and the source IP),
// with the endpoint wrapped in the cut.
func (n *network) quicBehindCut(link simnet.NodeBiDiLinkSettings) libp2p.Option {
	src := &sourceIP{}
	listen := quicreuse.OverrideListenUDP(func(_ string, addr *net.UDPAddr) (net.PacketConn, error) {
		src.ip.Store(&addr.IP)
		return &cutConn{SimConn: n.sn.NewEndpoint(addr, link), cut: &n.cut}, nil
	})
	selector := quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return src, nil })
	return libp2p.QUICReuse(func(l fx.Lifecycle, reset quic.StatelessResetKey, token quic.TokenGeneratorKey, opts ...quicreuse.Option) (*quicreuse.ConnManager, error) {
		cm, err := quicreuse.NewConnManager(reset, token, opts...)
		if err != nil {
			return nil, err
		}
		// A conn manager passed in is the caller's to close; libp2p closes
		// only the one it makes itself.
		l.Append(fx.StopHook(cm.Close))
		return cm, nil
	}, listen, selector)
}

package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/libp2p/go-libp2p"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/patchnet/patchnet/internal/duration"
)

// errConnRefused is a dial to an address where nothing listens (or whose
// listener's backlog is full), as a TCP reset answers it.
var errConnRefused = errors.New("sim tcp: connection refused")

// tcpTransport is a libp2p transport for /ip4/…/tcp/… addresses whose
// connections are the fabric's streams (stream.go) from one node's port,
// upgraded by libp2p's own upgrader as the production TCP transport's
// kernel sockets are: the node's TLS (or Noise), yamux, resource manager,
// gater and, in a private zone, its pre-shared key (pnet runs over
// streams; QUIC refuses it). It is the sim's lighter transport
// (testnet.TransportTCP): a connection costs no QUIC state and no timer
// reset per packet.
type tcpTransport struct {
	f        *fabric
	link     *port
	ip       net.IP
	upgrader transport.Upgrader
	rcmgr    lpnet.ResourceManager
}

var _ transport.Transport = (*tcpTransport)(nil)

// tcpOnFabric is the option giving a host only the tcp transport, from
// the fabric port at ip whose link sends up and receives down bytes per
// second (0: uncapped). The port's link is reset as the host starts (a
// restarted node's link starts empty).
func (n *network) tcpOnFabric(ip net.IP, up, down int64) libp2p.Option {
	ctor := func(u transport.Upgrader, rcmgr lpnet.ResourceManager) (*tcpTransport, error) {
		link := n.fab.link(&net.UDPAddr{IP: ip, Port: simPort}, up, down)
		return &tcpTransport{f: n.fab, link: link, ip: ip, upgrader: u, rcmgr: rcmgr}, nil
	}
	return libp2p.ChainOptions(libp2p.NoTransports, libp2p.Transport(ctor))
}

// Dial connects to raddr's listener and upgrades the stream, within a
// connection scope of the resource manager, as libp2p's TCP transport
// does.
func (t *tcpTransport) Dial(ctx context.Context, raddr ma.Multiaddr, p peer.ID) (transport.CapableConn, error) {
	scope, err := t.rcmgr.OpenConnection(lpnet.DirOutbound, true, raddr)
	if err != nil {
		return nil, err
	}
	c, err := t.dialScoped(ctx, raddr, p, scope)
	if err != nil {
		scope.Done()
		return nil, err
	}
	return c, nil
}

func (t *tcpTransport) dialScoped(ctx context.Context, raddr ma.Multiaddr, p peer.ID, scope lpnet.ConnManagementScope) (transport.CapableConn, error) {
	if err := scope.SetPeer(p); err != nil {
		return nil, err
	}
	to, err := tcpAddr(raddr)
	if err != nil {
		return nil, err
	}
	nc, err := t.f.connect(ctx, t.link, t.ip, to)
	if err != nil {
		return nil, err
	}
	mc, err := manet.WrapNetConn(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("sim tcp: wrapping a connection to %s: %w", raddr, err)
	}
	return t.upgrader.Upgrade(ctx, t, mc, lpnet.DirOutbound, p, scope)
}

// CanDial is true of /ip4/…/tcp/… addresses.
func (t *tcpTransport) CanDial(addr ma.Multiaddr) bool {
	_, err := tcpAddr(addr)
	return err == nil
}

// Listen listens at laddr, which must be this node's address, and gates
// and upgrades what it accepts as libp2p's TCP transport does.
func (t *tcpTransport) Listen(laddr ma.Multiaddr) (transport.Listener, error) {
	a, err := tcpAddr(laddr)
	if err != nil {
		return nil, err
	}
	if !a.IP.Equal(t.ip) {
		return nil, fmt.Errorf("sim tcp: listening at %s: this node's address is %s", laddr, t.ip)
	}
	l, err := t.f.listen(a, t.link)
	if err != nil {
		return nil, err
	}
	return t.upgrader.UpgradeGatedMaListener(t, t.upgrader.GateMaListener(l)), nil
}

// Protocols is TCP's.
func (t *tcpTransport) Protocols() []int { return []int{ma.P_TCP} }

// Proxy is false: the transport dials its peers itself.
func (t *tcpTransport) Proxy() bool { return false }

// tcpAddr is a's TCP address, or an error naming a if it has none.
func tcpAddr(a ma.Multiaddr) (*net.TCPAddr, error) {
	na, err := manet.ToNetAddr(a)
	if err != nil {
		return nil, fmt.Errorf("sim tcp: %s: %w", a, err)
	}
	ta, ok := na.(*net.TCPAddr)
	if !ok || ta.IP.To4() == nil {
		return nil, fmt.Errorf("sim tcp: %s is no /ip4/…/tcp/… address", a)
	}
	return ta, nil
}

// tcpListener is a listening address on the fabric: the manet.Listener
// libp2p's upgrader gates and upgrades.
type tcpListener struct {
	f       *fabric
	addr    *net.TCPAddr
	link    *port
	backlog chan *streamEnd

	once   sync.Once
	closed chan struct{}
}

var _ manet.Listener = (*tcpListener)(nil)

// listen registers a listener at a on link's port.
func (f *fabric) listen(a *net.TCPAddr, link *port) (*tcpListener, error) {
	key := tcpKey(a)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.listeners[key]; busy {
		return nil, fmt.Errorf("sim tcp: listening at %s: address already in use", a)
	}
	l := &tcpListener{f: f, addr: a, link: link, backlog: make(chan *streamEnd, tcpBacklog), closed: make(chan struct{})}
	f.listeners[key] = l
	return l, nil
}

// connect opens a stream from the port from (address ip, a new port
// number) to the listener at to: after a round trip, as TCP's handshake
// takes, it is in the listener's backlog. Nobody listening, or a full
// backlog, refuses it; a cut between the two holds it until ctx ends.
func (f *fabric) connect(ctx context.Context, from *port, ip net.IP, to *net.TCPAddr) (*streamEnd, error) {
	f.mu.RLock()
	l := f.listeners[tcpKey(to)]
	f.mu.RUnlock()
	if l == nil {
		return nil, fmt.Errorf("dialling %s: %w", to, errConnRefused)
	}
	if f.cut.drops(from.addr, l.link.addr) {
		<-ctx.Done()
		return nil, fmt.Errorf("dialling %s across a cut: %w", to, ctx.Err())
	}
	if err := duration.Sleep(ctx, 2*f.latency); err != nil {
		return nil, fmt.Errorf("dialling %s: %w", to, err)
	}
	local := &net.TCPAddr{IP: ip, Port: int(f.ephemeral.Add(1)%tcpEphemeralPorts) + tcpEphemeralBase}
	mine, theirs := newStream(f, from, l.link, local, to)
	select {
	case <-l.closed:
		return nil, fmt.Errorf("dialling %s: %w", to, errConnRefused)
	default:
	}
	select {
	case l.backlog <- theirs:
		return mine, nil
	default:
		return nil, fmt.Errorf("dialling %s: backlog full: %w", to, errConnRefused)
	}
}

// Accept returns the next connection dialled to the listener.
func (l *tcpListener) Accept() (manet.Conn, error) {
	select {
	case e := <-l.backlog:
		return manet.WrapNetConn(e)
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.f.closing:
		return nil, net.ErrClosed
	}
}

// Close stops the listener and frees its address; connections it
// accepted stay up.
func (l *tcpListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.f.mu.Lock()
		if l.f.listeners[tcpKey(l.addr)] == l {
			delete(l.f.listeners, tcpKey(l.addr))
		}
		l.f.mu.Unlock()
		for {
			select {
			case e := <-l.backlog:
				e.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr is the listening address.
func (l *tcpListener) Addr() net.Addr { return l.addr }

// Multiaddr is the listening address as a multiaddr.
func (l *tcpListener) Multiaddr() ma.Multiaddr {
	m, _ := manet.FromNetAddr(l.addr)
	return m
}

// tcpKey is a as a map key.
func tcpKey(a *net.TCPAddr) netip.AddrPort {
	ap := a.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

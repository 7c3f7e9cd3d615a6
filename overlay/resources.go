package overlay

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// newResourceManager scales go-libp2p's default limits (and its services'
// defaults: identify, ping, ...) to the memory and descriptors configured
// for this node, plus patchnet's own protocols: admission and catch-up are
// small and bounded, so each gets a modest stream budget rather than the
// default protocol limits. Loopback connections are exempt from the per-IP
// connection cap (go-libp2p's default), so tests on 127.0.0.1 are not
// throttled.
func newResourceManager(r ResourceConfig) (network.ResourceManager, error) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits(r)))
	if err != nil {
		return nil, fmt.Errorf("starting resource manager: %w", err)
	}
	return rm, nil
}

// resourceLimits are the scaled defaults with the connection limits raised
// to connLimit(r) each way: the memory-scaled defaults (64 inbound at 128
// MiB, 96 at 512 MiB) sat below the connection manager's high water mark,
// so a bootstrap node refused newcomers before it ever trimmed. In all a
// node may hold outboundReserve(r) more than either way, so that
// connections others open (DHT queries, a crowd of newcomers, a flood)
// never leave it unable to dial the peers it needs. The stream limits the
// connections share follow them (StreamsPerConn).
func resourceLimits(r ResourceConfig) rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	limits.AddProtocolLimit(AuthProtocol,
		rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20})
	limits.AddProtocolLimit(SyncProtocol,
		rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 64 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 32 << 20})
	scaled := limits.Scale(r.MaxMemory, r.MaxFileDescriptors)
	n := connLimit(r)
	partial := scaled.ToPartialLimitConfig()
	for _, l := range []*rcmgr.ResourceLimits{&partial.System, &partial.Transient} {
		l.Conns, l.ConnsInbound, l.ConnsOutbound = rcmgr.LimitVal(n+outboundReserve(r)), rcmgr.LimitVal(n), rcmgr.LimitVal(n)
		// A TCP connection holds a descriptor from its first byte, and the
		// descriptor limit is one for both directions: at the scaled
		// transient share (a quarter of the budget, 256 of 1,024) a crowd
		// of inbound handshakes took every descriptor the reserve was for,
		// and a bootstrap node of a 1,000-agent zone over TCP could not dial
		// its own supernodes. validate keeps MaxFileDescriptors above this.
		if l.FD > 0 && int(l.FD) < r.MaxConns() { // Unlimited (-1) stays
			l.FD = rcmgr.LimitVal(r.MaxConns())
		}
	}
	raiseStreams(&partial.System, StreamsPerConn*n)
	for _, l := range []*rcmgr.ResourceLimits{&partial.Transient, &partial.ProtocolDefault, &partial.ServiceDefault} {
		raiseStreams(l, n)
	}
	return partial.Build(scaled)
}

// raiseStreams raises l's stream limits to at least perDir each way (and
// twice that in all), leaving unlimited ones alone.
func raiseStreams(l *rcmgr.ResourceLimits, perDir int) {
	for _, v := range []struct {
		lim *rcmgr.LimitVal
		min int
	}{{&l.StreamsInbound, perDir}, {&l.StreamsOutbound, perDir}, {&l.Streams, 2 * perDir}} {
		if *v.lim >= 0 && int(*v.lim) < v.min { // Unlimited (-1) and BlockAllLimit (-2) stay
			*v.lim = rcmgr.LimitVal(v.min)
		}
	}
}

// MaxConns is the most connections the resource manager lets the node
// hold: its inbound limit (ConnLimitFactor × ConnHigh) and the outbound
// reserve past it. Over TCP each takes a file descriptor, so
// MaxFileDescriptors must be at least this (validate).
func (r ResourceConfig) MaxConns() int { return connLimit(r) + outboundReserve(r) }

// connLimit is the most connections the resource manager lets this node
// hold at once, each way: ConnLimitFactor × the connection manager's high
// water mark.
func connLimit(r ResourceConfig) int { return ConnLimitFactor * r.ConnHigh }

// outboundReserve is how many connections a node can always dial past
// the inbound ones it holds: ConnHigh/OutboundReserveDivisor, at least 1.
func outboundReserve(r ResourceConfig) int { return max(1, r.ConnHigh/OutboundReserveDivisor) }

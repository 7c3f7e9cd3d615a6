package sim

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// cut is a partition of the simulated network: while it is up, every
// datagram between endpoints on different sides is dropped, in both
// directions, as on a link that went dark: the fabric drops a datagram for
// the other side as it is sent, and one in flight when the cut went up as
// it arrives. Nodes see what a real partition shows them: silence,
// retransmissions, transport timeouts — no connection is closed for them,
// no dial refused.
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

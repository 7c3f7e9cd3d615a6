package overlay

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater keeps out peers that failed admission to a private zone, for
// BlockDuration, before a connection to them is secured or dialled.
type gater struct {
	mu      sync.Mutex
	now     func() time.Time
	blocked map[peer.ID]time.Time // until
}

var _ connmgr.ConnectionGater = (*gater)(nil)

func newGater() *gater {
	return &gater{now: time.Now, blocked: map[peer.ID]time.Time{}}
}

// block keeps p out until BlockDuration from now.
func (g *gater) block(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked[p] = g.now().Add(BlockDuration)
	if len(g.blocked) > MaxBlockedPeers {
		g.evictOldest()
	}
}

// evictOldest forgets the block that expires first (rare: only when more
// than MaxBlockedPeers peers failed admission within BlockDuration).
func (g *gater) evictOldest() {
	var oldest peer.ID
	var until time.Time
	for p, t := range g.blocked {
		if oldest == "" || t.Before(until) {
			oldest, until = p, t
		}
	}
	delete(g.blocked, oldest)
}

// unblock lets p in again.
func (g *gater) unblock(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.blocked, p)
}

// isBlocked reports whether p is kept out now.
func (g *gater) isBlocked(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.blocked[p]
	if !ok {
		return false
	}
	if g.now().After(until) {
		delete(g.blocked, p)
		return false
	}
	return true
}

// InterceptPeerDial refuses to dial a blocked peer.
func (g *gater) InterceptPeerDial(p peer.ID) bool { return !g.isBlocked(p) }

// InterceptAddrDial allows every address of an allowed peer.
func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept allows the handshake: the peer ID is known only after it.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured drops a blocked peer as soon as its ID is authenticated.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.isBlocked(p)
}

// InterceptUpgraded allows every connection that got this far.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

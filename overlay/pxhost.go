package overlay

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// errEnoughPeers declines a peer exchange's connection (pxHost).
var errEnoughPeers = errors.New("declining peer exchange: connections at the low water mark")

// pxHost is the host gossipsub runs on: the node's own, but the peers a
// supernode's prune names (peer exchange, the only connections the router
// opens: patchnet names no direct peers) are dialled only while the node
// has fewer than low connections. PX is how an agent pruned from an
// oversubscribed supernode mesh finds other agents; one past its low mark
// has topic peers enough to graft, and each of its up to 16 dials would be
// a handshake and an admission the connection manager undoes at its next
// trim. In a 1,000-agent sim zone, agents regrafting to the supernodes
// (every agent keeps its supernode connections) and following each prune
// kept opening hundreds of connections a second for as long as it ran.
type pxHost struct {
	host.Host
	low      int
	declined *atomic.Uint64 // Stats.PXDeclined
}

// Connect dials ai unless the node is at its low water mark.
func (h pxHost) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if len(h.Network().Peers()) >= h.low {
		h.declined.Add(1)
		return errEnoughPeers
	}
	return h.Host.Connect(ctx, ai)
}

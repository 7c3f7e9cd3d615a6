package overlay

import (
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// dhtHost is the host the DHT runs on: the node's own, but for its
// connection manager, whose protections become tags. kad-dht protects
// every routing-table peer of its two widest buckets from trimming, up to
// 40 peers a node; the peers patchnet keeps at any cost are its zone's
// signers and its gossip meshes. With the DHT's on top, an agent whose
// water marks sit below 40 never trimmed: a sim agent at 16/32 sat at 56
// connections, at its resource manager's cap, refusing the peers that came
// to fetch from it. As tags the routing table's peers still outrank
// untagged ones when the manager trims, and a trimmed one stays in the
// routing table (kad-dht keeps disconnected peers) to be dialled again
// when a lookup needs it.
type dhtHost struct {
	host.Host
}

// ConnManager is the host's connection manager with protections as tags.
func (h dhtHost) ConnManager() connmgr.ConnManager {
	return tagOnlyConnMgr{h.Host.ConnManager()}
}

// tagOnlyConnMgr turns Protect into a tag of value DHTPeerTagValue.
type tagOnlyConnMgr struct {
	connmgr.ConnManager
}

// Protect tags p instead.
func (m tagOnlyConnMgr) Protect(p peer.ID, tag string) {
	m.ConnManager.TagPeer(p, tag, DHTPeerTagValue)
}

// Unprotect removes the tag Protect set and reports, as the interface
// asks, whether p stays protected (by the node's own tags).
func (m tagOnlyConnMgr) Unprotect(p peer.ID, tag string) bool {
	m.ConnManager.UntagPeer(p, tag)
	return m.ConnManager.IsProtected(p, "")
}

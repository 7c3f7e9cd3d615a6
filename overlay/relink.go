package overlay

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
)

// Relinking: gossipsub opens its stream to a peer when a connection comes
// up and does not open another while that connection lasts (a failed open
// drops the peer from the router; a stream that died is reopened a bounded
// number of times). The zone's supernodes are protected from trimming
// (admission.protect), so a connection to one whose gossip stream was
// lost — refused by a supernode's resource manager under a crowd of
// dialling agents, say — would stay up, silent, for good: the 1,000-agent
// sim saw a publisher hear one of three supernodes on their topic for ten
// minutes. A supernode connected for RelinkGrace and missing from the
// supernodes' topic for two rounds in a row gets a fresh connection, on
// which both routers start over. Not while an artifact transfer runs on
// it, though: closing the connection would cut the transfer (a supernode
// is every agent's first content seed, and the one a starved zone loses
// gossip streams to is the one it is fetching from), so the relink waits,
// the supernode still a suspect, until no transfer is open. A supernode
// cannot hold that off past the transfer: the fetcher drops a provider
// that stalls or drips (content.StallTimeout, content.MinProviderRate).

// relinkLoop checks the supernode links every BootstrapInterval until the
// overlay closes.
func (o *Overlay) relinkLoop() {
	defer o.wg.Done()
	t := time.NewTicker(time.Duration(o.cfg.BootstrapInterval))
	defer t.Stop()
	suspect := map[peer.ID]bool{}
	for {
		select {
		case <-o.ctx.Done():
			return
		case <-t.C:
		}
		suspect = o.relinkSilentSupernodes(suspect)
	}
}

// relinkSilentSupernodes replaces the connection to each verified
// supernode of the zone that was connected but off the supernodes' topic
// in this round and in the last (suspect); it returns this round's
// suspects.
func (o *Overlay) relinkSilentSupernodes(suspect map[peer.ID]bool) map[peer.ID]bool {
	onTopic := map[peer.ID]bool{}
	for _, p := range o.TopicPeers(o.SupernodesTopic()) {
		onTopic[p] = true
	}
	next := map[peer.ID]bool{}
	for _, info := range o.auth.all() {
		p := info.ID
		if !o.isZoneSupernode(info) || onTopic[p] || !o.linkedSince(p, time.Now().Add(-o.relinkGrace())) {
			continue
		}
		if !suspect[p] {
			next[p] = true
			continue
		}
		if transferring(o.host.Network().ConnsToPeer(p)) {
			o.stats.relinksDeferred.Add(1)
			next[p] = true
			continue
		}
		o.relink(p)
	}
	return next
}

// isZoneSupernode reports whether info is a verified supernode of this
// node's zone.
func (o *Overlay) isZoneSupernode(info PeerInfo) bool {
	return info.Verified && info.Identity.Zone == o.cfg.Zone && info.Identity.HasRole(trust.RoleSupernode)
}

// relink closes every connection to p and dials it again at the addresses
// the peerstore holds.
func (o *Overlay) relink(p peer.ID) {
	o.log.Info("supernode connected but silent on the supernodes' topic: reconnecting", "peer", p)
	o.stats.relinks.Add(1)
	_ = o.host.Network().ClosePeer(p)
	ctx, cancel := context.WithTimeout(o.ctx, DialTimeout)
	defer cancel()
	if err := o.host.Connect(network.WithForceDirectDial(ctx, "relinking a silent supernode"), peer.AddrInfo{ID: p}); err != nil {
		o.log.Warn("reconnecting to a silent supernode", "peer", p, "err", err)
	}
}

// transferring reports whether any of conns carries an artifact transfer
// (a content-protocol stream, either way).
func transferring(conns []network.Conn) bool {
	for _, c := range conns {
		for _, s := range c.GetStreams() {
			if pr := s.Protocol(); pr == content.ProtocolID || pr == content.ProtocolIDv1 {
				return true
			}
		}
	}
	return false
}

// linkedSince reports whether a connection to p has been open since
// before t.
func (o *Overlay) linkedSince(p peer.ID, t time.Time) bool {
	for _, c := range o.host.Network().ConnsToPeer(p) {
		if c.Stat().Opened.Before(t) {
			return true
		}
	}
	return false
}

// relinkGraceOverride, when positive, replaces RelinkGrace: relink.go's
// own test sets it for its duration.
var relinkGraceOverride atomic.Int64

// relinkGrace is RelinkGrace, or its test override.
func (o *Overlay) relinkGrace() time.Duration {
	if d := time.Duration(relinkGraceOverride.Load()); d > 0 {
		return d
	}
	return RelinkGrace
}

package content

import (
	"bytes"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Busy hints: a seeder past its serve budget names the peers it served a
// whole copy, with addresses to reach them, so a refused fetcher dials
// them at once. Without the addresses it knew only their IDs and waited
// for a DHT lookup or their provider records (install p50 in the 50-agent
// sim doubled when the budget came in).

// hintAddrs picks up to MaxBusyHintAddrs addresses of q to give a fetcher
// reached at remote: what identify learned of q (its listen addresses, in
// the peerstore), or, when nothing is known, the remote addresses of open
// connections to q. Those are observed, not advertised: for a connection q
// dialled, an ephemeral port, so only a last resort.
func hintAddrs(h host.Host, q peer.ID, remote ma.Multiaddr) []ma.Multiaddr {
	addrs := h.Peerstore().Addrs(q)
	if len(addrs) == 0 {
		for _, c := range h.Network().ConnsToPeer(q) {
			addrs = append(addrs, c.RemoteMultiaddr())
		}
	}
	addrs = inScope(addrs, remote)
	addrs = slices.DeleteFunc(addrs, func(a ma.Multiaddr) bool {
		n := len(a.Bytes())
		return n == 0 || n > MaxBusyHintAddrLen
	})
	// The peerstore's order is a map's: sort, so one frame is like the next.
	slices.SortFunc(addrs, func(a, b ma.Multiaddr) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	addrs = slices.CompactFunc(addrs, func(a, b ma.Multiaddr) bool { return a.Equal(b) })
	return addrs[:min(len(addrs), MaxBusyHintAddrs)]
}

// busyHints names the peers a busy answer to p about c hints at: with
// their addresses for a ProtocolID stream from remote, IDs only otherwise.
func busyHints(h host.Host, b *serveBudget, p peer.ID, c cid.Cid, remote ma.Multiaddr, withAddrs bool) []busyHint {
	ids := b.hints(p, c)
	out := make([]busyHint, len(ids))
	for i, q := range ids {
		out[i].ID = q
		if withAddrs && h != nil {
			out[i].Addrs = hintAddrs(h, q, remote)
		}
	}
	return out
}

// dialableHint returns the addresses of a hint received from a server
// reached at via that this node should dial: those in scope (see inScope)
// and not naming another peer in a /p2p part.
func dialableHint(hint busyHint, via ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range inScope(hint.Addrs, via) {
		transport, id := peer.SplitAddr(a)
		if transport == nil || id != "" && id != hint.ID {
			continue
		}
		out = append(out, transport)
	}
	return out
}

// inScope keeps the addresses that a peer reached at remote can be expected
// to dial, by the rule libp2p's identify applies to listen addresses: a peer
// on loopback may dial anything, a peer on a private network anything but
// loopback, a peer on the internet public addresses only. So a server on
// the internet cannot steer a fetcher's dials at the fetcher's own loopback
// or its LAN, nor tells the internet its private peers' addresses.
func inScope(addrs []ma.Multiaddr, remote ma.Multiaddr) []ma.Multiaddr {
	var keep func(ma.Multiaddr) bool
	switch {
	case len(remote) == 0 || manet.IsIPLoopback(remote):
		return slices.Clone(addrs)
	case manet.IsPrivateAddr(remote):
		keep = func(a ma.Multiaddr) bool { return !manet.IsIPLoopback(a) }
	case manet.IsPublicAddr(remote):
		keep = manet.IsPublicAddr
	default:
		return slices.Clone(addrs)
	}
	var out []ma.Multiaddr
	for _, a := range addrs {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

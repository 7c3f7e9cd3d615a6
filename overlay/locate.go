package overlay

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/patchnet/patchnet/trust"
)

// errNoDHT: LocatePeer needs the DHT's protocol to ask with.
var errNoDHT = errors.New("locating peer: the DHT is off")

// LocatePeer finds id's addresses by asking the zone's signers this node
// is connected to (verified supernodes and publishers of its zone), or
// when there are none its bootstrap peers (bootstrapLocators), with
// one DHT FIND_NODE request each over the open connection, at most
// MaxLocateAsked of them within LocateTimeout: the zone's signers keep
// connections among themselves, so each knows the others' addresses. It
// opens no connection and walks no DHT: a DHT walk dials some twenty
// peers, and a thousand agents each walking for the supernodes they fetch
// from (content seeds) kept a 1,000-agent sim zone's supernodes and DHT
// peers busy with handshakes. The addresses are a hint: a dial to them
// still authenticates id.
func (o *Overlay) LocatePeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	if o.dht == nil {
		return peer.AddrInfo{}, errNoDHT
	}
	ctx, cancel := context.WithTimeout(ctx, LocateTimeout)
	defer cancel()
	asked := o.locators(id)
	if len(asked) == 0 {
		asked = o.bootstrapLocators(ctx, id)
	}
	var errs []error
	for _, p := range asked {
		infos, err := o.dhtpm.GetClosestPeers(ctx, p, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("asking %s: %w", p, err))
			continue
		}
		for _, ai := range infos {
			if ai.ID == id && len(ai.Addrs) > 0 {
				return *ai, nil
			}
		}
		errs = append(errs, fmt.Errorf("%s knows no address of it", p))
	}
	return peer.AddrInfo{}, fmt.Errorf("locating %s among %d of the zone's connected signers or this node's bootstrap peers: %w",
		id, len(asked), errors.Join(append([]error{routing.ErrNotFound}, errs...)...))
}

// bootstrapLocators connects to this node's bootstrap peers (at most
// MaxLocateAsked) when it is connected to no signer of its zone, and
// returns those it reached, to be asked as signers are. A supernode or
// publisher that thousands of agents bootstrapped off keeps only its low
// water mark of them, so an agent may well be connected to none; without
// a signer to ask it lost its seeds ("not found") and searched the DHT. A
// bootstrap peer is one the operator configured, usually a signer, and
// what it answers is a hint like a signer's: one dial each instead of a
// DHT walk's twenty.
func (o *Overlay) bootstrapLocators(ctx context.Context, id peer.ID) []peer.ID {
	var out []peer.ID
	for _, ai := range o.cfg.bootstrapInfos() {
		if ai.ID == o.host.ID() || ai.ID == id {
			continue
		}
		if err := o.host.Connect(ctx, ai); err != nil {
			continue
		}
		if out = append(out, ai.ID); len(out) == MaxLocateAsked {
			break
		}
	}
	return out
}

// locators are the connected, verified signers of this node's zone to ask
// for id's addresses, at most MaxLocateAsked.
func (o *Overlay) locators(id peer.ID) []peer.ID {
	var out []peer.ID
	for _, pi := range o.auth.all() {
		if len(out) == MaxLocateAsked {
			break
		}
		signer := pi.Identity.HasRole(trust.RoleSupernode) || pi.Identity.HasRole(trust.RolePublisher)
		if pi.ID == id || !pi.Verified || !signer || pi.Identity.Zone != o.cfg.Zone ||
			o.host.Network().Connectedness(pi.ID) != network.Connected {
			continue
		}
		out = append(out, pi.ID)
	}
	return out
}

// WaitVerified waits for p's admission exchange to settle (at most
// Config.AuthDeadline, or until ctx ends) and reports whether it verified
// p, in a public zone as in a private one: for protocols served only to
// verified peers (install reports), which a peer may open as soon as it
// has connected, before this end has checked its certificate.
func (o *Overlay) WaitVerified(ctx context.Context, p peer.ID) bool {
	return o.auth.waitVerified(ctx, p)
}

// Reach connects to id unless it is connected already — at the addresses
// this node knows for it, else at those LocatePeer finds — and waits for
// the admission exchange: nil once id is connected and verified. For a
// peer named by signed data (an update's co-signers), not for discovery.
func (o *Overlay) Reach(ctx context.Context, id peer.ID) error {
	if o.host.Network().Connectedness(id) != network.Connected {
		ai := peer.AddrInfo{ID: id, Addrs: o.host.Peerstore().Addrs(id)}
		if len(ai.Addrs) == 0 {
			located, err := o.LocatePeer(ctx, id)
			if err != nil {
				return fmt.Errorf("reaching %s: %w", id, err)
			}
			ai = located
		}
		if err := o.host.Connect(ctx, ai); err != nil {
			return fmt.Errorf("reaching %s: %w", id, err)
		}
	}
	if !o.auth.waitVerified(ctx, id) {
		return fmt.Errorf("reaching %s: %w", id, cmp.Or(o.auth.failure(id), errNotVerified))
	}
	return nil
}

// errNotVerified: the admission exchange with a peer did not verify it in
// time, and recorded no failure.
var errNotVerified = fmt.Errorf("%w: its admission exchange did not verify it in time", trust.ErrUntrusted)

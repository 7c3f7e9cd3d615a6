package sim

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
)

const (
	// publicFixID is the fix the zone publishes.
	publicFixID = "PNT-SIM-0001"
	// privateZone is the private-zone scenario's private zone, and
	// privateFixID its fix.
	privateZone  = "acme"
	privateFixID = "PNT-SIM-ACME-0001"
	// pskBytes is the size of a libp2p pre-shared key.
	pskBytes = 32
)

// startPrivate starts the private-zone scenario's private zone on z's
// network: a lab of its own (zone CA, supernodes, publisher, half the
// agents) whose every connection is wrapped in a pre-shared key, as
// `patchnet init --private` sets one up, recording into z's events. The
// public zone is then made under its root: the key, not the
// certificates, keeps the zones apart.
func (z *zone) startPrivate(ctx context.Context, dir string, progress testnet.Progress) (*zone, error) {
	psk := make([]byte, pskBytes)
	if _, err := rand.Read(psk); err != nil {
		return nil, fmt.Errorf("making the private zone's key: %w", err)
	}
	p := z.params
	pz := &zone{net: z.net, ev: z.ev, params: p, fixID: privateFixID}
	lo := z.labOptions(filepath.Join(dir, privateZone), privateZone, p.Nodes/2,
		func(stage string, done, total int) { progress(privateZone+" "+stage, done, total) })
	lo.Configure = func(name string, cfg *node.Config) {
		configure(z.net, p, privateZone+"/"+name, name, cfg)
		cfg.Overlay.PrivateZone.PSK = psk
	}
	lab, err := nodelab.New(ctx, lo)
	if err != nil {
		return nil, fmt.Errorf("starting the private zone %s: %w", privateZone, err)
	}
	pz.lab = lab
	return pz, nil
}

// runPrivateZone publishes each zone's fix at once and waits until every
// agent of each installed its own. The public agents were given the
// private zone's first supernode as a bootstrap peer: without the key
// they must not get a connection to it, and no announcement may cross.
func runPrivateZone(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	priv := z.private
	var g errgroup.Group
	g.Go(func() error { return z.publish(ctx) })
	g.Go(func() error { return priv.publish(ctx) })
	if err := g.Wait(); err != nil {
		return err
	}
	public := z.waitFor(ctx, z.lab.Agents, node.EventInstalled, "public installed", progress)
	private := priv.waitFor(ctx, priv.lab.Agents, node.EventInstalled, privateZone+" installed", progress)
	fillZones(rep, zonePart{z, z.lab.Agents}, zonePart{priv, priv.lab.Agents})
	rep.Checks["public_installed"] = public == len(z.lab.Agents)
	rep.Checks["private_installed"] = private == len(priv.lab.Agents)
	rep.Checks["public_never_saw_private"] = !z.anySaw(z.lab.Members(), privateFixID)
	rep.Checks["private_never_saw_public"] = !z.anySaw(priv.lab.Members(), publicFixID)
	rep.Checks["no_peer_across_zones"] = !connectedAcross(z.lab, priv.lab) && !connectedAcross(priv.lab, z.lab)
	return nil
}

// anySaw reports whether any of members had an event of the announcement
// id.
func (z *zone) anySaw(members []*nodelab.Member, id string) bool {
	for _, m := range members {
		if z.ev.saw(m.ID(), id) {
			return true
		}
	}
	return false
}

// connectedAcross reports whether any node of a holds a connection to a
// node of b.
func connectedAcross(a, b *nodelab.Lab) bool {
	theirs := map[peer.ID]bool{}
	for _, m := range b.Members() {
		theirs[m.ID()] = true
	}
	for _, m := range a.Members() {
		for _, p := range m.Overlay().Host().Network().Peers() {
			if theirs[p] {
				return true
			}
		}
	}
	return false
}

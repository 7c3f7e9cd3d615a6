package sim

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/testnet"
)

// fabricHost starts a plain host at name's place on net, on the
// network's transport, with libp2p's default security and muxers.
func fabricHost(t *testing.T, net *network, name string, opts ...libp2p.Option) host.Host {
	t.Helper()
	listen, fab := net.endpoint(name, false)
	h, err := libp2p.New(append(append(fab, libp2p.ListenAddrStrings(listen),
		libp2p.ResourceManager(&lpnet.NullResourceManager{})), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestRefusedDialsDoNotCutANodeOff: a zone node of which more than a
// hundred dials failed (an agent of a large zone at its own connection
// limit, dialling peers that are gone or slow to answer) still reaches
// the next peer it dials. With libp2p's black-hole detection, the
// node's own host (the overlay's, on the sim's public addresses) refused
// every QUIC dial after that as "dial refused because of black hole".
func TestRefusedDialsDoNotCutANodeOff(t *testing.T) {
	p := small(testnet.ScenarioPropagation)
	p.Nodes = 1
	net := newNetwork(p)
	defer net.close()
	ctx := context.Background()
	z, err := startZone(ctx, p, Options{}, t.TempDir(), net, func(string, int, int) {})
	if err != nil {
		t.Fatal(err)
	}
	defer z.lab.Close()
	agent := z.lab.Agents[0].Overlay().Host()
	// Dials that fail: to a place on the network where nobody listens,
	// each given up after a moment (the swarm counts any failed dial,
	// a cancelled one too, as it counts a refusal by this node's own
	// resource manager at its connection limit).
	nobody, _ := net.endpoint("nobody", false)
	ghost, err := peer.Decode("12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo")
	if err != nil {
		t.Fatal(err)
	}
	for range 120 {
		dctx, cancel := context.WithTimeout(lpnet.WithForceDirectDial(ctx, "test: every dial again"), 20*time.Millisecond)
		agent.Connect(dctx, peer.AddrInfo{ID: ghost, Addrs: []ma.Multiaddr{ma.StringCast(nobody)}})
		cancel()
	}
	open := fabricHost(t, net, "open")
	if err := agent.Connect(ctx, peer.AddrInfo{ID: open.ID(), Addrs: open.Addrs()}); err != nil {
		t.Fatalf("after 120 failed dials, dialling a peer that accepts: %v", err)
	}
}

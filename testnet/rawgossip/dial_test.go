package rawgossip

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	ma "github.com/multiformats/go-multiaddr"
)

// A baseline peer whose first dial failed (its peer not listening yet,
// as a busy peer drops a handshake) reaches it on a later attempt, as a
// TCP client retransmitting its SYN would; libp2p's dial backoff must
// not fail the retries at once.
func TestDialRetriesPastBackoff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := loopbackHost(t)
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", freeUDPPort(t)))
	ai := peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{addr}}
	// Longer than the swarm's own dial timeout (5 s on loopback), so the
	// attempt fails inside the swarm, which then backs off from the peer.
	if err := ConnectOnce(ctx, client, ai, 10*time.Second); err == nil {
		t.Fatal("dialed a peer that is not listening")
	}
	// The peer comes up; the client's next attempts must reach it.
	loopbackHost(t, libp2p.Identity(key), libp2p.ListenAddrs(addr))
	if err := Dial(ctx, client, ai); err != nil {
		t.Fatalf("the peer listens, yet: %v", err)
	}
}

// loopbackHost is a plain QUIC host for the test's life, on a loopback
// port of its own unless opts listen elsewhere.
func loopbackHost(t *testing.T, opts ...libp2p.Option) host.Host {
	t.Helper()
	opts = append([]libp2p.Option{libp2p.NoTransports, libp2p.Transport(quic.NewTransport),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"), libp2p.DisableMetrics()}, opts...)
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// freeUDPPort is a loopback UDP port nothing listens on now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

package sim

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	ma "github.com/multiformats/go-multiaddr"
)

// TestBaselineDialRetriesPastBackoff: a baseline client whose first dial
// failed (the origin not listening yet, as a busy origin drops a
// handshake) reaches it on a later attempt, as a TCP client retransmitting
// its SYN would; libp2p's dial backoff must not fail the retries at once.
func TestBaselineDialRetriesPastBackoff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := libp2p.New(libp2p.NoTransports, libp2p.Transport(quic.NewTransport),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
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
	if err := dialRetrying(ctx, client, ai, 1, 10*time.Second, 0); err == nil {
		t.Fatal("dialed an origin that is not listening")
	}
	// The origin comes up; the client's next attempts must reach it.
	origin, err := libp2p.New(libp2p.Identity(key), libp2p.NoTransports, libp2p.Transport(quic.NewTransport),
		libp2p.ListenAddrs(addr), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	if err := dialRetrying(ctx, client, ai, 3, 5*time.Second, 50*time.Millisecond); err != nil {
		t.Fatalf("the origin listens, yet: %v", err)
	}
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

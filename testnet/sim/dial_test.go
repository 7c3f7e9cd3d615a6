package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
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
	if err := dialRetrying(ctx, client, ai, 1, 10*time.Second, 0); err == nil {
		t.Fatal("dialed an origin that is not listening")
	}
	// The origin comes up; the client's next attempts must reach it.
	loopbackHost(t, libp2p.Identity(key), libp2p.ListenAddrs(addr))
	if err := dialRetrying(ctx, client, ai, 3, 5*time.Second, 50*time.Millisecond); err != nil {
		t.Fatalf("the origin listens, yet: %v", err)
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

// TestBaselineOriginDownloadRetried: an HTTP-baseline client whose first
// download the origin dropped (a connection its busy origin closed, seen
// at 1,000 nodes as "opening a stream: connection failed") downloads on
// its next attempt rather than counting as never delivered.
func TestBaselineOriginDownloadRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, origin := loopbackHost(t), loopbackHost(t)
	artifact := bytes.Repeat([]byte{7}, 64<<10)
	var streams atomic.Int64
	origin.SetStreamHandler(originProtocol, func(s lpnet.Stream) {
		if streams.Add(1) == 1 {
			s.Reset() // dropped
			return
		}
		defer s.Close()
		s.Write(artifact)
	})
	client.Peerstore().AddAddrs(origin.ID(), origin.Addrs(), time.Hour)
	if !fetchOrigin(ctx, client, origin.ID(), int64(len(artifact)), 30*time.Second) {
		t.Fatalf("the download failed after %d attempts reached the origin", streams.Load())
	}
	if n := streams.Load(); n != 2 {
		t.Errorf("the origin saw %d downloads, want the dropped one and its retry", n)
	}
}

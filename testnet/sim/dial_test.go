package sim

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
)

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

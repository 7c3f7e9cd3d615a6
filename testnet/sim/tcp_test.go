package sim

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/testnet"
)

// tcpHost is a libp2p host named name on n with the tcp transport alone,
// with libp2p's default security and muxers.
func tcpHost(t *testing.T, n *network, name string, extra ...libp2p.Option) host.Host {
	t.Helper()
	listen, opts := n.endpoint(name, false)
	h, err := libp2p.New(append(append(opts, libp2p.ListenAddrStrings(listen)), extra...)...)
	if err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestTCPTransportCarriesStreams: two hosts on the tcp transport connect
// through libp2p's upgrader, and a stream between them carries bytes both
// ways; a dial where nothing listens is refused, naming the address.
func TestTCPTransportCarriesStreams(t *testing.T) {
	p := testnet.DefaultParams()
	p.Transport, p.Latency = testnet.TransportTCP, 5*time.Millisecond
	n := newNetwork(p)
	t.Cleanup(n.close)
	a, b := tcpHost(t, n, "a"), tcpHost(t, n, "b")
	b.SetStreamHandler("/echo", func(s lpnet.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatalf("connecting: %v", err)
	}
	if got := b.Addrs()[0].String(); !strings.Contains(got, "/tcp/") {
		t.Fatalf("b listens at %s, want a tcp address", got)
	}
	s, err := a.NewStream(ctx, b.ID(), "/echo")
	if err != nil {
		t.Fatalf("opening a stream: %v", err)
	}
	want := strings.Repeat("patch ", 100_000)
	go func() {
		s.Write([]byte(want))
		s.CloseWrite()
	}()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != want {
		t.Fatalf("echoed %d bytes (%v), want the %d sent", len(got), err, len(want))
	}

	nobody := ma.StringCast("/ip4/" + n.addr("nobody").String() + "/tcp/4001")
	c := tcpHost(t, n, "c")
	err = c.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: []ma.Multiaddr{nobody}})
	if err == nil || !strings.Contains(err.Error(), errConnRefused.Error()) || !strings.Contains(err.Error(), n.addr("nobody").String()) {
		t.Fatalf("dialling %s where nothing listens: %v, want refused, naming the address", nobody, err)
	}
}

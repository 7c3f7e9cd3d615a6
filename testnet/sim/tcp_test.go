package sim

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/testnet"
)

// TestTCPTransportCarriesStreams: two hosts on the tcp transport connect
// through libp2p's upgrader, and a stream between them carries bytes both
// ways; a dial where nothing listens is refused, naming the address.
func TestTCPTransportCarriesStreams(t *testing.T) {
	p := testnet.DefaultParams()
	p.Transport, p.Latency = testnet.TransportTCP, 5*time.Millisecond
	n := newNetwork(p)
	t.Cleanup(n.close)
	a, b := fabricHost(t, n, "a"), fabricHost(t, n, "b")
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
	c := fabricHost(t, n, "c")
	err = c.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: []ma.Multiaddr{nobody}})
	if err == nil || !strings.Contains(err.Error(), errConnRefused.Error()) || !strings.Contains(err.Error(), n.addr("nobody").String()) {
		t.Fatalf("dialling %s where nothing listens: %v, want refused, naming the address", nobody, err)
	}
}

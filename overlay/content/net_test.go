package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// testPrefix keeps the tests' DHT apart from any other.
const testPrefix = "/patchnet/test"

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a settle delay
	}
}

type security int

const (
	secTLS security = iota
	secNoise
)

// newHost starts a libp2p host on loopback TCP.
func newHost(tb testing.TB, sec security) host.Host {
	tb.Helper()
	opts := []libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		// As overlay's host: no SO_REUSEPORT, so two hosts dialling each
		// other at once cannot meet in one simultaneously opened connection
		// where both sides are the TLS client.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
	}
	if sec == secNoise {
		opts = append(opts, libp2p.Security(noise.ID, noise.New))
	} else {
		opts = append(opts, libp2p.Security(libp2ptls.ID, libp2ptls.New))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		tb.Fatalf("starting host: %v", err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// node is one test participant: host, DHT and content service.
type node struct {
	h     host.Host
	dht   *dht.IpfsDHT
	store Blockstore
	svc   *Service
}

// newNet starts n nodes with server-mode DHTs under testPrefix, connects
// every pair and waits until each routing table holds all the others.
func newNet(tb testing.TB, n int, cfg func(i int) Config) []*node {
	tb.Helper()
	return newNetWith(tb, n, secTLS, cfg, func(testing.TB) Blockstore { return NewMemStore() })
}

// newNetWith is newNet with the security transport and stores chosen.
func newNetWith(tb testing.TB, n int, sec security, cfg func(i int) Config, newStore func(testing.TB) Blockstore) []*node {
	tb.Helper()
	ctx := context.Background()
	nodes := make([]*node, n)
	for i := range nodes {
		h := newHost(tb, sec)
		d, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(testPrefix))
		if err != nil {
			tb.Fatalf("starting DHT: %v", err)
		}
		tb.Cleanup(func() { d.Close() })
		store := newStore(tb)
		svc, err := New(h, d, store, cfg(i))
		if err != nil {
			tb.Fatalf("starting content service: %v", err)
		}
		nodes[i] = &node{h: h, dht: d, store: store, svc: svc}
	}
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
				tb.Fatalf("connecting hosts: %v", err)
			}
		}
	}
	for _, a := range nodes {
		waitFor(tb, "routing tables", func() bool { return a.dht.RoutingTable().Size() >= n-1 })
	}
	return nodes
}

func defaultCfg(int) Config { return DefaultConfig() }

// artifact returns deterministic pseudo-random bytes and their SHA-256.
func artifact(size int, seed uint64) ([]byte, [32]byte) {
	b := make([]byte, size)
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	for i := 0; i < size; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < size; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b, sha256.Sum256(b)
}

// seed imports data on each provider and waits until the fetcher's DHT
// lists exactly those providers.
func seed(tb testing.TB, data []byte, fetcher *node, providers ...*node) cid.Cid {
	tb.Helper()
	ctx := context.Background()
	var root cid.Cid
	for _, p := range providers {
		c, err := p.svc.Add(ctx, bytes.NewReader(data))
		if err != nil {
			tb.Fatalf("adding artifact: %v", err)
		}
		root = c
	}
	want := peerIDs(providers)
	waitFor(tb, "provider records", func() bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ais, _ := fetcher.dht.FindProviders(ctx, root)
		var got []peer.ID
		for _, ai := range ais {
			if ai.ID != fetcher.h.ID() {
				got = append(got, ai.ID)
			}
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	return root
}

func peerIDs(nodes []*node) []peer.ID {
	var ids []peer.ID
	for _, n := range nodes {
		ids = append(ids, n.h.ID())
	}
	slices.Sort(ids)
	return ids
}

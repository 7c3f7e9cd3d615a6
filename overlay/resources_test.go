package overlay

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// TestStreamLimitsFollowConnLimit: a node whose connection limit admits a
// zone's crowd admits that crowd's streams too. A supernode holding a
// 1,000-agent zone's connections had go-libp2p's memory-scaled stream
// limits (640 inbound a protocol, 1,536 in all) and reset agents'
// gossip, DHT and fetch streams, "code 0x1002". Here twelve peers hold 60
// streams each of one protocol open to a node with a high water mark of
// 512: every stream is served; with the scaled defaults 80 of them were
// reset. The system and negotiation limits are checked on the config the
// node is built from.
func TestStreamLimitsFollowConnLimit(t *testing.T) {
	const perPeer, peers = 60, 12 // under the per-peer limit of a protocol (64)
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.Resources.ConnLow, cfg.Resources.ConnHigh = 256, 512
	cfg.Resources.MaxFileDescriptors = cfg.Resources.MaxConns()
	hub := startNode(t, pki, nodeOpts{cfg: cfg})
	const proto = protocol.ID("/patchnet/test/hold/1.0.0")
	release := make(chan struct{})
	var served atomic.Int64
	hub.Host().SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		if _, err := s.Write([]byte{1}); err != nil {
			return
		}
		served.Add(1)
		<-release
	})
	defer close(release)
	var held, failed atomic.Int64
	var (
		mu       sync.Mutex
		firstErr error
	)
	var wg sync.WaitGroup
	for range peers {
		p := startNode(t, pki, nodeOpts{})
		connect(t, p.Overlay, hub.Overlay)
		for range perPeer {
			wg.Go(func() {
				if err := holdStream(p, hub, proto, release); err != nil {
					mu.Lock()
					if failed.Add(1) == 1 {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				held.Add(1)
			})
		}
	}
	waitFor(t, time.Minute, "every stream answered or refused", func() bool { return held.Load()+failed.Load() == perPeer*peers })
	if failed.Load() > 0 {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf("%d of %d streams refused (first: %v); %d served", failed.Load(), perPeer*peers, firstErr, served.Load())
	}
	l := resourceLimits(cfg.Resources).ToPartialLimitConfig()
	n := connLimit(cfg.Resources)
	for _, c := range []struct {
		scope    string
		got, min int
	}{{"system", int(l.System.StreamsInbound), StreamsPerConn * n}, {"transient", int(l.Transient.StreamsInbound), n}} {
		if c.got < c.min {
			t.Errorf("%s inbound stream limit %d for %d connections, want at least %d", c.scope, c.got, n, c.min)
		}
	}
}

// holdStream opens a stream from p to hub, reads hub's byte, then keeps
// the stream open until release closes (hub's handler ends it).
func holdStream(p, hub *testNode, proto protocol.ID, release <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := p.Host().NewStream(ctx, hub.ID(), proto)
	if err != nil {
		return err
	}
	var b [1]byte
	if _, err := io.ReadFull(s, b[:]); err != nil {
		s.Reset()
		return err
	}
	go func() { <-release; s.Close() }()
	return nil
}

// TestInboundCrowdLeavesRoomToDial: connections others open to a node
// never take the room its own dials need. In a 1,000-agent sim zone,
// agents held 64 connections — their whole limit — most of them inbound
// DHT queries still in their grace period, and could not dial the
// supernodes they fetch from: "system: cannot reserve connection". Here
// peers fill a node's inbound limit, then the node dials one more peer:
// the dial must succeed (with inbound and outbound sharing one limit it
// failed, checked), while one more inbound connection is still refused.
func TestInboundCrowdLeavesRoomToDial(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.Resources.ConnLow, cfg.Resources.ConnHigh = 2, 4
	hub := startNode(t, pki, nodeOpts{cfg: cfg})
	n := connLimit(cfg.Resources)
	crowd := make([]*testNode, n)
	for i := range crowd {
		crowd[i] = startNode(t, pki, nodeOpts{})
	}
	target, extra := startNode(t, pki, nodeOpts{}), startNode(t, pki, nodeOpts{})
	for _, p := range crowd {
		connect(t, p.Overlay, hub.Overlay) // within ConnGracePeriod: none trimmed
	}
	if in := inboundConns(hub); in != n {
		t.Fatalf("hub holds %d inbound connections, want its inbound limit %d", in, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hub.Connect(ctx, target.AddrInfo()); err != nil {
		t.Fatalf("dialing out with %d inbound connections held: %v", n, err)
	}
	if err := extra.Connect(ctx, hub.AddrInfo()); err == nil || connected(hub.Overlay, extra.Overlay) {
		t.Errorf("connection %d into a node whose inbound limit is %d: accepted (err %v)", n+1, n, err)
	}
}

// inboundConns counts the connections others opened to n.
func inboundConns(n *testNode) int {
	in := 0
	for _, c := range n.Host().Network().Conns() {
		if c.Stat().Direction == network.DirInbound {
			in++
		}
	}
	return in
}

// TestHandshakeCrowdLeavesRoomToDial: a crowd of inbound TCP connections
// still in their handshake never takes the file descriptors the node's own
// dials need. Over TCP a connection holds a descriptor from its first
// byte, and go-libp2p's transient scope (where handshakes wait) gets a
// quarter of the budget: in a 1,000-agent sim zone over TCP the
// publisher's handshakes with agents took all 256, and it could not dial
// its supernodes again; the zone never formed. Here raw TCP connections
// that never speak fill a node's transient descriptors as far as the
// scaled share (64 of 256), then the node dials a peer: it must get
// through (it failed before the transient share was raised to the
// connection limit, checked).
func TestHandshakeCrowdLeavesRoomToDial(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.Resources.ConnLow, cfg.Resources.ConnHigh = 32, 64
	cfg.Resources.MaxFileDescriptors = 256 // scaled transient share: 64
	hub := startNode(t, pki, nodeOpts{cfg: cfg})
	target := startNode(t, pki, nodeOpts{})
	addr, err := manet.ToNetAddr(hub.Host().Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	for range connLimit(cfg.Resources) {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatalf("opening a silent connection: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	transient := func() (st network.ScopeStat) {
		hub.Host().Network().ResourceManager().ViewTransient(func(s network.ResourceScope) error {
			st = s.Stat()
			return nil
		})
		return st
	}
	waitFor(t, time.Minute, "the silent connections hold 64 transient descriptors", func() bool { return transient().NumFD >= 64 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hub.Connect(ctx, target.AddrInfo()); err != nil {
		t.Fatalf("dialing out with %d descriptors held by handshakes: %v", transient().NumFD, err)
	}
}

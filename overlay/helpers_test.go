package overlay

import (
	"bufio"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

const testZone = "acme"

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testConfig listens on loopback TCP only, without the DHT (tests that need
// it turn it on) and with a short auth deadline.
func testConfig() Config {
	cfg := withZone(DefaultConfig(), testZone)
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.DHT.Mode = DHTModeOff
	cfg.AuthDeadline = duration.Duration(3 * time.Second)
	cfg.BootstrapInterval = duration.Duration(time.Second)
	return cfg
}

// trustValidator accepts envelopes the verifier accepts and rejects the
// rest: the shape of the node's validator, with trust deciding.
func trustValidator(v *trust.Verifier) ValidatorFunc {
	return func(_ context.Context, _ string, _ peer.ID, data []byte) (Verdict, any) {
		ve, err := v.VerifyEnvelope(data)
		if err != nil {
			return Reject, nil
		}
		return Accept, ve
	}
}

// testNode is one overlay with the member whose key and chain it uses.
type testNode struct {
	*Overlay
	member *trusttest.Member
	t      testing.TB
}

type nodeOpts struct {
	cfg       Config
	member    *trusttest.Member
	verifier  *trust.Verifier
	validator MessageValidator
	store     ItemStore
	noChain   bool
	// onBootstrap is told each round of bootstrap dials (Deps.OnBootstrap).
	onBootstrap func(BootstrapRound)
}

// startNode starts an overlay for member (issued by pki in testZone if nil).
func startNode(t testing.TB, pki *trusttest.PKI, o nodeOpts) *testNode {
	t.Helper()
	if o.cfg.Zone == "" {
		o.cfg = testConfig()
	}
	if o.member == nil {
		o.member = pki.Issue(t, testZone)
	}
	if o.verifier == nil {
		o.verifier = pki.Verifier(t)
	}
	if o.validator == nil {
		o.validator = trustValidator(o.verifier)
	}
	deps := Deps{
		Validator:     o.validator,
		Authenticator: AuthenticatorFunc(o.verifier.VerifyPeer),
		Chain:         o.member.ChainDER(),
		Store:         o.store,
	}
	if o.noChain {
		deps.Chain = nil
	}
	deps.OnBootstrap = o.onBootstrap
	ov, err := New(context.Background(), o.member.Key, o.cfg, deps)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	t.Cleanup(func() { ov.Close() })
	return &testNode{Overlay: ov, member: o.member, t: t}
}

func connect(t testing.TB, a, b *Overlay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatalf("connecting %s to %s: %v", a.ID(), b.ID(), err)
	}
}

func connected(a, b *Overlay) bool {
	return a.Host().Network().Connectedness(b.ID()) == network.Connected
}

// waitTopicPeers waits until o's router knows n peers in topic.
func waitTopicPeers(t testing.TB, o *Overlay, topic string, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d peers in %s", n, topic), func() bool {
		return len(o.TopicPeers(topic)) >= n
	})
}

// waitMesh waits until o has grafted n peers in topic: a message published
// before the mesh forms reaches only flood or fanout peers.
func waitMesh(t testing.TB, o *Overlay, topic string, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d mesh peers in %s", n, topic), func() bool {
		return len(o.MeshPeers(topic)) >= n
	})
}

// collector gathers one subscription's messages by payload.
type collector struct {
	mu   sync.Mutex
	msgs map[string]Message
}

func collect(t testing.TB, o *Overlay, topic string) *collector {
	t.Helper()
	sub, err := o.Subscribe(topic)
	if err != nil {
		t.Fatalf("subscribing: %v", err)
	}
	c := &collector{msgs: map[string]Message{}}
	go func() {
		for m := range sub.Messages() {
			c.mu.Lock()
			c.msgs[string(m.Data)] = m
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) has(data []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.msgs[string(data)]
	return ok
}

func (c *collector) get(data []byte) (Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.msgs[string(data)]
	return m, ok
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// announcement is a real signed envelope with a distinguishable payload.
func announcement(t testing.TB, signer *trusttest.Member, text string) []byte {
	t.Helper()
	return trusttest.Envelope(t, "application/vnd.patchnet.announcement+json", []byte(`{"id":"`+text+`"}`), signer)
}

// rawPeer is a bare libp2p host, with none of patchnet's protocols or
// checks, connected to o: a peer speaking patchnet's wire formats by hand.
// The context bounds the test's exchanges with o.
func rawPeer(t testing.TB, o *Overlay) (host.Host, context.Context) {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if err := h.Connect(ctx, o.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	return h, ctx
}

// pskPeer is a bare libp2p host holding a private zone's key but none of
// patchnet's protocols, connected to o: an outsider who got the key.
func pskPeer(t testing.TB, psk []byte, o *Overlay) (host.Host, context.Context) {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.PrivateNetwork(psk), libp2p.Transport(tcp.NewTCPTransport))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := h.Connect(ctx, o.AddrInfo()); err != nil {
		t.Fatalf("the key should let the handshake through: %v", err)
	}
	return h, ctx
}

// holdStreams opens n streams of proto from h to target, each carrying one
// byte of a frame length that never completes, and returns how many of them
// the target has ended so far. A stream neither ended nor counted by the
// target's slots has not reached its handler yet.
func holdStreams(t testing.TB, ctx context.Context, h host.Host, target peer.ID, proto protocol.ID, n int) func() int {
	t.Helper()
	var ended atomic.Int32
	for range n {
		s, err := h.NewStream(ctx, target, proto)
		if err != nil {
			t.Fatalf("opening stream: %v", err)
		}
		t.Cleanup(func() { s.Reset() })
		if _, err := s.Write([]byte{0x80}); err != nil {
			t.Fatalf("writing: %v", err)
		}
		go func() {
			var b [1]byte
			if _, err := s.Read(b[:]); err != nil {
				ended.Add(1)
			}
		}()
	}
	return func() int { return int(ended.Load()) }
}

var acceptAll = ValidatorFunc(func(context.Context, string, peer.ID, []byte) (Verdict, any) { return Accept, nil })

// askSync sends one catch-up request by hand and decodes the answer.
func askSync(ctx context.Context, h host.Host, p peer.ID, req syncRequest) (syncResponse, error) {
	s, err := h.NewStream(ctx, p, SyncProtocol)
	if err != nil {
		return syncResponse{}, err
	}
	defer s.Close()
	if err := writeFrame(s, encodeSyncRequest(req)); err != nil {
		return syncResponse{}, err
	}
	_ = s.CloseWrite()
	body, err := readFrame(bufio.NewReader(s), syncResponseLimit(req))
	if err != nil {
		return syncResponse{}, err
	}
	return decodeSyncResponse(body, req)
}

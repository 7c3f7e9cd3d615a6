package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

func TestPublishSubscribeOverQUIC(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	cfg := testConfig()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
	a := startNode(t, pki, nodeOpts{cfg: cfg})
	b := startNode(t, pki, nodeOpts{cfg: cfg})
	connect(t, a.Overlay, b.Overlay)
	conns := a.Host().Network().ConnsToPeer(b.ID())
	if len(conns) == 0 || !isQUIC(conns[0].RemoteMultiaddr().String()) {
		t.Fatalf("connection is not QUIC: %v", conns)
	}
	got := collect(t, b.Overlay, b.AnnounceTopic())
	collect(t, a.Overlay, a.AnnounceTopic())
	waitMesh(t, a.Overlay, a.AnnounceTopic(), 1)
	msg := announcement(t, a.member, "quic-1")
	if err := a.Publish(context.Background(), a.AnnounceTopic(), msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "delivery over QUIC", func() bool { return got.has(msg) })
	m, _ := got.get(msg)
	if m.Author != a.ID() || m.ReceivedFrom != a.ID() || m.CatchUp {
		t.Errorf("message metadata = author %s from %s catchup %v, want author and sender %s, gossip", m.Author, m.ReceivedFrom, m.CatchUp, a.ID())
	}
	waitFor(t, 10*time.Second, "both peers verified", func() bool {
		ia, _ := a.PeerInfo(b.ID())
		ib, _ := b.PeerInfo(a.ID())
		return ia.Verified && ib.Verified
	})
	if info, _ := a.PeerInfo(b.ID()); info.Identity.Fingerprint != b.member.Identity.Fingerprint || info.Role() != "agent" {
		t.Errorf("a sees b as %+v, want fingerprint %s role agent", info, b.member.Identity.Fingerprint)
	}
}

func TestVerdictMapping(t *testing.T) {
	tests := []struct {
		v    Verdict
		want pubsub.ValidationResult
	}{
		{Accept, pubsub.ValidationAccept},
		{Reject, pubsub.ValidationReject},
		{Ignore, pubsub.ValidationIgnore},
		{Verdict(42), pubsub.ValidationIgnore}, // a node bug: drop, blame nobody
		{Verdict(-1), pubsub.ValidationIgnore},
	}
	for _, tt := range tests {
		t.Run(tt.v.String(), func(t *testing.T) {
			if got := tt.v.pubsubResult(); got != tt.want {
				t.Errorf("%v maps to %v, want %v", tt.v, got, tt.want)
			}
		})
	}
}

func TestSubscriptionFilterRejectsForeignTopics(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	a := startNode(t, pki, nodeOpts{})
	for _, topic := range []string{
		AnnounceTopic("other"), "/patchnet/acme/announce/extra", "/patchnet/acme/collective/UPPER",
		"/patchnet/acme/collective/", "announce", "/patchnet/acme.x/announce",
	} {
		if _, err := a.Subscribe(topic); !errors.Is(err, ErrForeignTopic) {
			t.Errorf("Subscribe(%q) = %v, want ErrForeignTopic", topic, err)
		}
		if err := a.Publish(context.Background(), topic, []byte("x")); !errors.Is(err, ErrForeignTopic) {
			t.Errorf("Publish(%q) = %v, want ErrForeignTopic", topic, err)
		}
	}
	if _, err := a.Subscribe(a.CollectiveTopic("web-servers.eu")); err != nil {
		t.Errorf("own collective refused: %v", err)
	}

	// A peer of another zone announces its topics: this node neither tracks
	// them nor relays for them, but tracks the shared announce topic.
	b := startNode(t, pki, nodeOpts{cfg: withZone(testConfig(), "other")})
	connect(t, a.Overlay, b.Overlay)
	collect(t, b.Overlay, AnnounceTopic("other"))
	collect(t, b.Overlay, b.CollectiveTopic("x"))
	c := startNode(t, pki, nodeOpts{})
	connect(t, c.Overlay, a.Overlay)
	collect(t, c.Overlay, c.AnnounceTopic())
	collect(t, a.Overlay, a.AnnounceTopic())
	waitTopicPeers(t, a.Overlay, a.AnnounceTopic(), 1) // c's subscription arrived
	for _, foreign := range []string{AnnounceTopic("other"), CollectiveTopic("other", "x")} {
		if peers := a.gossip.ps.ListPeers(foreign); len(peers) != 0 {
			t.Errorf("router tracks foreign topic %s for %v", foreign, peers)
		}
	}
}

func withZone(cfg Config, zone string) Config {
	cfg.Zone = zone
	return cfg
}

func TestOversizedMessageDropped(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	small := testConfig()
	small.Gossip.MaxMessageBytes = 16 << 10
	big := testConfig()
	big.Gossip.MaxMessageBytes = 1 << 20
	accept := ValidatorFunc(func(context.Context, string, peer.ID, []byte) (Verdict, any) { return Accept, nil })

	t.Run("local publish", func(t *testing.T) {
		n := startNode(t, pki, nodeOpts{cfg: small, validator: accept})
		if err := n.Publish(context.Background(), n.AnnounceTopic(), make([]byte, 16<<10+1)); !errors.Is(err, ErrOversized) {
			t.Errorf("publishing past the limit = %v, want ErrOversized", err)
		}
	})
	// Past the message limit but inside the RPC frame: the validator path
	// rejects it, and the sender's later messages still arrive.
	t.Run("inside frame", func(t *testing.T) {
		recv := startNode(t, pki, nodeOpts{cfg: small, validator: accept})
		send := startNode(t, pki, nodeOpts{cfg: big, validator: accept})
		got := meshed(t, recv, send)
		publish(t, send, make([]byte, small.Gossip.MaxMessageBytes+1024))
		ok := []byte("small message after the big one")
		publish(t, send, ok)
		waitFor(t, 10*time.Second, "the small message", func() bool { return got.has(ok) })
		if got.count() != 1 || recv.Stats().Rejected != 1 {
			t.Errorf("delivered %d messages, rejected %d; want the small one delivered, the big one rejected", got.count(), recv.Stats().Rejected)
		}
	})
	// Past the RPC frame: pubsub resets the sender's stream unread. The
	// receiver goes on receiving from everyone else.
	t.Run("past frame", func(t *testing.T) {
		recv := startNode(t, pki, nodeOpts{cfg: small, validator: accept})
		send := startNode(t, pki, nodeOpts{cfg: big, validator: accept})
		other := startNode(t, pki, nodeOpts{cfg: small, validator: accept})
		got := meshed(t, recv, send)
		connect(t, other.Overlay, recv.Overlay)
		collect(t, other.Overlay, other.AnnounceTopic())
		waitMesh(t, other.Overlay, other.AnnounceTopic(), 1)
		publish(t, send, make([]byte, small.Gossip.MaxMessageBytes+RPCOverheadBytes+1024))
		ok := []byte("honest message from another peer")
		publish(t, other, ok)
		waitFor(t, 10*time.Second, "the other peer's message", func() bool { return got.has(ok) })
		if got.count() != 1 {
			t.Errorf("delivered %d messages, want only the other peer's", got.count())
		}
	})
}

// meshed connects send to recv, subscribes both to the announce topic and
// waits for the mesh; it returns recv's collector.
func meshed(t *testing.T, recv, send *testNode) *collector {
	t.Helper()
	connect(t, send.Overlay, recv.Overlay)
	got := collect(t, recv.Overlay, recv.AnnounceTopic())
	collect(t, send.Overlay, send.AnnounceTopic())
	waitMesh(t, send.Overlay, send.AnnounceTopic(), 1)
	return got
}

// publish sends data on the announce topic, or on topic if given.
func publish(t testing.TB, n *testNode, data []byte, topic ...string) {
	t.Helper()
	to := n.AnnounceTopic()
	if len(topic) > 0 {
		to = topic[0]
	}
	if err := n.Publish(context.Background(), to, data); err != nil {
		t.Fatalf("publishing: %v", err)
	}
}

func TestIgnoredMessagesDoNotPenalize(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	ignoreAll := ValidatorFunc(func(context.Context, string, peer.ID, []byte) (Verdict, any) { return Ignore, nil })
	accept := ValidatorFunc(func(context.Context, string, peer.ID, []byte) (Verdict, any) { return Accept, nil })
	recv := startNode(t, pki, nodeOpts{validator: ignoreAll})
	send := startNode(t, pki, nodeOpts{validator: accept})
	connect(t, send.Overlay, recv.Overlay)
	got := collect(t, recv.Overlay, recv.AnnounceTopic())
	collect(t, send.Overlay, send.AnnounceTopic())
	waitMesh(t, send.Overlay, send.AnnounceTopic(), 1)
	for i := range 10 {
		if err := send.Publish(context.Background(), send.AnnounceTopic(), fmt.Appendf(nil, "stale %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "10 ignored messages", func() bool { return recv.Stats().Ignored >= 10 })
	// Scores are snapshotted every score.inspect_interval: wait for two more
	// snapshots after the last ignored message.
	for range 2 {
		before := recv.gossip.scoreSnapshots()
		waitFor(t, 10*time.Second, "a fresh score snapshot", func() bool { return recv.gossip.scoreSnapshots() > before })
	}
	if score := recv.PeerScores()[send.ID()]; score < 0 {
		t.Errorf("score of a peer whose messages were only ignored = %v, want >= 0", score)
	}
	if got.count() != 0 || recv.Stats().Rejected != 0 {
		t.Errorf("ignored messages delivered (%d) or counted as rejected (%d)", got.count(), recv.Stats().Rejected)
	}
}

// iwantTracer records, on a plain gossipsub peer, whether a message was
// pushed to it or whether it had to ask for it (IWANT) after gossip.
type iwantTracer struct {
	tracer
	want       []byte
	mu         sync.Mutex
	sentIWANT  bool
	sentPrune  bool // refused someone's graft
	pushed     bool // received without asking first
	receivedIt bool
}

func (r *iwantTracer) SendRPC(rpc *pubsub.RPC, _ peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sentIWANT = r.sentIWANT || len(rpc.GetControl().GetIwant()) > 0
	r.sentPrune = r.sentPrune || len(rpc.GetControl().GetPrune()) > 0
}

func (r *iwantTracer) prunedSomeone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sentPrune
}

func (r *iwantTracer) RecvRPC(rpc *pubsub.RPC) {
	for _, m := range rpc.GetPublish() {
		if bytes.Equal(m.GetData(), r.want) {
			r.mu.Lock()
			if !r.receivedIt {
				r.receivedIt, r.pushed = true, !r.sentIWANT
			}
			r.mu.Unlock()
		}
	}
}

func (r *iwantTracer) result() (received, pushed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.receivedIt, r.pushed
}

func TestSupernodeFloodPublishes(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	for _, supernode := range []bool{true, false} {
		t.Run(fmt.Sprintf("supernode=%v", supernode), func(t *testing.T) {
			cfg := testConfig()
			cfg.Supernode = supernode
			s := startNode(t, pki, nodeOpts{cfg: cfg, member: pki.Issue(t, testZone, trust.RoleSupernode)})
			msg := announcement(t, s.member, fmt.Sprintf("flood-%v", supernode))
			// A peer that never joins anyone's mesh (gossipsub's bootstrapper
			// setting, D=0, refuses inbound grafts): it gets a message either
			// pushed by flood publishing or, after gossip, by asking for it.
			h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			params := pubsub.DefaultGossipSubParams()
			params.D, params.Dlo, params.Dhi, params.Dout, params.Dscore = 0, 0, 0, 0, 0
			tr := &iwantTracer{tracer: tracer{c: &counters{}, mesh: newMeshView()}, want: msg}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithGossipSubParams(params), pubsub.WithRawTracer(tr), pubsub.WithMessageIdFn(messageIDFn(func(_ string, d []byte) [32]byte { return sha256.Sum256(d) })))
			if err != nil {
				t.Fatal(err)
			}
			topic, err := ps.Join(s.AnnounceTopic())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := topic.Subscribe(); err != nil {
				t.Fatal(err)
			}
			collect(t, s.Overlay, s.AnnounceTopic())
			// s dials, so s's graft arrives inbound at h, which refuses it.
			if err := s.Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
				t.Fatal(err)
			}
			waitTopicPeers(t, s.Overlay, s.AnnounceTopic(), 1)
			// s grafts h at a heartbeat and h answers with a PRUNE; until s has
			// processed it, h is in s's mesh and gets the message pushed anyway.
			// s traced the graft before sending it, so once h has pruned, an
			// empty mesh at s means the prune arrived.
			waitFor(t, 15*time.Second, "h refusing s's graft", tr.prunedSomeone)
			waitFor(t, 15*time.Second, "s processing the prune", func() bool { return len(s.MeshPeers(s.AnnounceTopic())) == 0 })
			publish(t, s, msg)
			waitFor(t, 15*time.Second, "the message at the peer outside the mesh", func() bool { got, _ := tr.result(); return got })
			if _, pushed := tr.result(); pushed != supernode {
				t.Errorf("supernode=%v: message pushed=%v, want pushed only by flood publishing", supernode, pushed)
			}
		})
	}
}

// TestReceivedIsBeforeValidation checks Message.Received: the time the
// message entered gossipsub's validation, before the node's validator ran
// (so a report's receipt-to-acceptance includes the validation queue), and
// Hash the ID gossipsub computed.
func TestReceivedIsBeforeValidation(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	verifier := pki.Verifier(t)
	var mu sync.Mutex
	var called time.Time
	check := trustValidator(verifier)
	recv := startNode(t, pki, nodeOpts{validator: ValidatorFunc(func(ctx context.Context, topic string, from peer.ID, data []byte) (Verdict, any) {
		mu.Lock()
		if called.IsZero() {
			called = time.Now()
		}
		mu.Unlock()
		return check(ctx, topic, from, data)
	})})
	send := startNode(t, pki, nodeOpts{})
	got := meshed(t, recv, send)
	msg := announcement(t, send.member, "received-1")
	publish(t, send, msg)
	waitFor(t, 10*time.Second, "delivery", func() bool { return got.has(msg) })
	m, _ := got.get(msg)
	mu.Lock()
	defer mu.Unlock()
	if m.Received.IsZero() || !m.Received.Before(called) {
		t.Errorf("received %v, validator called %v: want the arrival before validation", m.Received, called)
	}
	if want := sha256.Sum256(msg); m.Hash != want { // Deps.MessageID's default
		t.Errorf("hash %x, want the message id %x", m.Hash, want)
	}
}

// TestArrivalNotesForgotten checks the tracer's notes behind
// Message.Received: the first copy's note survives a copy arriving while
// it is in validation, and a copy arriving after the message's delivery
// or refusal leaves none behind (a long-running node would otherwise
// keep one for every message until the bound).
func TestArrivalNotesForgotten(t *testing.T) {
	received, _ := lru.New[string, time.Time](ReceivedCacheSize)
	delivered, _ := lru.New[[32]byte, struct{}](DeliveredCacheSize)
	tr := tracer{c: &counters{}, mesh: newMeshView(), received: received, delivered: delivered}
	id := sha256.Sum256([]byte("m"))
	msg := &pb.Message{From: []byte("author"), Seqno: []byte{1}, Data: []byte("m")}
	copyOf := func() *pubsub.Message { return &pubsub.Message{Message: msg, ID: string(id[:])} }
	arrive := func() { tr.RecvRPC(&pubsub.RPC{RPC: pb.RPC{Publish: []*pb.Message{msg}}}) }

	arrive()
	arrive() // a second copy while the first is in validation
	tr.DuplicateMessage(copyOf())
	if received.Len() != 1 {
		t.Fatalf("%d notes while the first copy is in validation, want its one", received.Len())
	}
	delivered.Add(id, struct{}{})
	received.Remove(arrivalKey(msg.GetFrom(), msg.GetSeqno())) // the pump's read
	arrive()
	tr.DuplicateMessage(copyOf())
	if received.Len() != 0 {
		t.Errorf("a copy after delivery left %d notes", received.Len())
	}
	arrive()
	tr.RejectMessage(copyOf(), pubsub.RejectValidationFailed)
	if received.Len() != 0 {
		t.Errorf("a refused message left %d notes", received.Len())
	}
}

package overlay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// benchNodes is how many nodes the gossip benchmark runs: DESIGN.md's
// ring+random topology, in one process over mocknet.
const benchNodes = 100

// ringRandom links node i to i+1 and to two random others: degree about 6.
func ringRandom(n int, seed uint64) [][2]int {
	r := rand.New(rand.NewPCG(seed, seed))
	seen := map[[2]int]bool{}
	var edges [][2]int
	add := func(a, b int) {
		if a == b {
			return
		}
		e := [2]int{min(a, b), max(a, b)}
		if !seen[e] {
			seen[e] = true
			edges = append(edges, e)
		}
	}
	for i := range n {
		add(i, (i+1)%n)
		add(i, r.IntN(n))
		add(i, r.IntN(n))
	}
	return edges
}

// gossipNet is n nodes on one topic; publish sends from node 0.
type gossipNet struct {
	mn       mocknet.Mocknet
	publish  func(data []byte) error
	arrivals atomic.Int64 // deliveries of the message in flight
	current  atomic.Pointer[string]
	all      chan struct{}
	n        int
	closers  []func()
}

// onMessage counts a delivery of the message in flight.
func (g *gossipNet) onMessage(data []byte) {
	if cur := g.current.Load(); cur == nil || *cur != string(data) {
		return
	}

	if g.arrivals.Add(1) == int64(g.n-1) {
		select {
		case g.all <- struct{}{}:
		default:
		}
	}
}

// send publishes data and waits until every other node has it.
func (g *gossipNet) send(tb testing.TB, data []byte, timeout time.Duration) bool {
	s := string(data)
	g.current.Store(&s)
	g.arrivals.Store(0)
	select { // a stale signal from a message that timed out
	case <-g.all:
	default:
	}
	if err := g.publish(data); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-g.all:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (g *gossipNet) close() {
	for _, c := range g.closers {
		c()
	}
	g.mn.Close()
}

// newGossipNet builds the topology; validated nodes run the full overlay
// with a trust validator, raw nodes plain gossipsub without validation.
func newGossipNet(b *testing.B, pki *trusttest.PKI, members []*trusttest.Member, validated bool) *gossipNet {
	g := &gossipNet{mn: mocknet.New(), all: make(chan struct{}, 1), n: len(members)}
	hosts := make([]host.Host, len(members))
	for i, m := range members {
		h, err := g.mn.AddPeer(m.LibP2PKey(b), ma.StringCast(fmt.Sprintf("/ip4/10.0.%d.%d/tcp/4001", i/250, i%250+1)))
		if err != nil {
			b.Fatal(err)
		}
		hosts[i] = h
	}
	if err := g.mn.LinkAll(); err != nil {
		b.Fatal(err)
	}
	topic := AnnounceTopic(testZone)
	peersIn := make([]func() int, len(hosts))
	for i, h := range hosts {
		if validated {
			peersIn[i] = g.startOverlay(b, h, members[i], pki, i == 0)
		} else {
			peersIn[i] = g.startRaw(b, h, topic, i == 0)
		}
	}
	degree := make([]int, len(hosts))
	for _, e := range ringRandom(len(hosts), 7) {
		if _, err := g.mn.ConnectPeers(hosts[e[0]].ID(), hosts[e[1]].ID()); err != nil {
			b.Fatal(err)
		}
		degree[e[0]]++
		degree[e[1]]++
	}
	for i := range hosts {
		want := min(degree[i], pubsub.GossipSubDlo)
		waitFor(b, 30*time.Second, "meshes", func() bool { return peersIn[i]() >= want })
	}
	// Meshes form on heartbeats; warm up until one message reaches all
	// (this also fills the verifiers' chain caches).
	for i := 0; ; i++ {
		if g.send(b, announcement(b, members[0], fmt.Sprintf("warm-up-%d", i)), 5*time.Second) {
			break
		}
		if i == 20 {
			b.Fatal("gossip never reached every node")
		}
	}
	return g
}

func (g *gossipNet) startOverlay(b *testing.B, h host.Host, m *trusttest.Member, pki *trusttest.PKI, publisher bool) func() int {
	v := pki.Verifier(b)
	cfg := testConfig()
	deps := Deps{Validator: trustValidator(v), Authenticator: AuthenticatorFunc(v.VerifyPeer), Chain: m.ChainDER()}
	if err := deps.check(cfg); err != nil {
		b.Fatal(err)
	}
	o, err := start(context.Background(), h, cfg, deps, newGater())
	if err != nil {
		b.Fatal(err)
	}
	g.closers = append(g.closers, func() { o.Close() })
	sub, err := o.Subscribe(o.AnnounceTopic())
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for msg := range sub.Messages() {
			if msg.ReceivedFrom != o.ID() { // not the publisher's own copy
				g.onMessage(msg.Data)
			}
		}
	}()
	if publisher {
		g.publish = func(data []byte) error { return o.Publish(context.Background(), o.AnnounceTopic(), data) }
	}
	return func() int { return len(o.MeshPeers(o.AnnounceTopic())) }
}

func (g *gossipNet) startRaw(b *testing.B, h host.Host, topic string, publisher bool) func() int {
	ctx, cancel := context.WithCancel(context.Background())
	mesh := newMeshView()
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithRawTracer(tracer{c: &counters{}, mesh: mesh}))
	if err != nil {
		b.Fatal(err)
	}
	t, err := ps.Join(topic)
	if err != nil {
		b.Fatal(err)
	}
	sub, err := t.Subscribe()
	if err != nil {
		b.Fatal(err)
	}
	g.closers = append(g.closers, func() { sub.Cancel(); cancel() })
	go func() {
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if m.ReceivedFrom != h.ID() {
				g.onMessage(m.Data)
			}
		}
	}()
	if publisher {
		g.publish = func(data []byte) error { return t.Publish(ctx, data) }
	}
	return func() int { return len(mesh.list(topic)) }
}

// BenchmarkGossipTimeTo100 measures how long one signed announcement takes
// to reach every node of a 100-node ring+random topology: raw gossipsub
// without validation against the overlay, where every node verifies the
// envelope (one Ed25519 signature, chain cached) before relaying. Both
// networks run at once and messages alternate between them, so load on the
// machine hits both alike; ratio is validated over raw.
func BenchmarkGossipTimeTo100(b *testing.B) {
	pki := trusttest.NewPKI(b, testZone)
	members := make([]*trusttest.Member, benchNodes)
	for i := range members {
		members[i] = pki.Issue(b, testZone, trust.RoleSupernode)
	}
	raw := newGossipNet(b, pki, members, false)
	defer raw.close()
	validated := newGossipNet(b, pki, members, true)
	defer validated.close()
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = announcement(b, members[0], fmt.Sprintf("bench-%d", i))
	}
	var rawTime, validatedTime time.Duration
	b.ResetTimer()
	for i := range b.N {
		for _, run := range []struct {
			g     *gossipNet
			total *time.Duration
		}{{raw, &rawTime}, {validated, &validatedTime}} {
			start := time.Now()
			if !run.g.send(b, msgs[i], 30*time.Second) {
				b.Fatalf("message %d did not reach every node", i)
			}
			*run.total += time.Since(start)
		}
	}
	perMsg := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(perMsg(rawTime), "raw-ms/msg")
	b.ReportMetric(perMsg(validatedTime), "validated-ms/msg")
	b.ReportMetric(float64(validatedTime)/float64(rawTime), "ratio")
}

// BenchmarkValidateQueueBurst sends a burst of signed announcements from 4
// publishers at once to one node whose validator verifies each envelope,
// with pubsub's default validation queue (32) and with the overlay's.
// dropped/op counts messages lost because the queue was full.
func BenchmarkValidateQueueBurst(b *testing.B) {
	const publishers, burst = 4, 500
	pki := trusttest.NewPKI(b, testZone)
	signer := pki.Issue(b, testZone, trust.RoleSupernode)
	for _, queue := range []int{32, DefaultValidateQueueSize} {
		b.Run(fmt.Sprintf("queue=%d", queue), func(b *testing.B) {
			recv, senders, closeAll := burstNet(b, pki, queue, publishers)
			defer closeAll()
			var delivered, dropped uint64
			for i := range b.N {
				msgs := make([][][]byte, publishers)
				for p := range msgs {
					for j := range burst {
						msgs[p] = append(msgs[p], announcement(b, signer, fmt.Sprintf("burst-%d-%d-%d", i, p, j)))
					}
				}
				before := recv.Stats()
				b.StartTimer()
				var wg sync.WaitGroup
				for p, s := range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for _, m := range msgs[p] {
							if err := s.Publish(context.Background(), s.AnnounceTopic(), m); err != nil {
								b.Error(err)
							}
						}
					}()
				}
				wg.Wait()
				total := uint64(publishers * burst)
				waitFor(b, 60*time.Second, "the burst to settle", func() bool {
					s := recv.Stats()
					return s.Delivered+s.QueueFull+s.Throttled-before.Delivered-before.QueueFull-before.Throttled >= total
				})
				b.StopTimer()
				after := recv.Stats()
				delivered += after.Delivered - before.Delivered
				dropped += after.QueueFull + after.Throttled - before.QueueFull - before.Throttled
			}
			b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
			b.ReportMetric(float64(delivered)/float64(b.N), "delivered/op")
		})
	}
}

// burstNet is one receiver (with the given validation queue) and n
// publishers that accept their own messages unchecked, all meshed.
func burstNet(b *testing.B, pki *trusttest.PKI, queue, n int) (*Overlay, []*Overlay, func()) {
	b.StopTimer()
	mn := mocknet.New()
	var all []*Overlay
	mk := func(cfg Config, v MessageValidator) *Overlay {
		m := pki.Issue(b, testZone)
		h, err := mn.AddPeer(m.LibP2PKey(b), ma.StringCast(fmt.Sprintf("/ip4/10.1.0.%d/tcp/4001", len(all)+1)))
		if err != nil {
			b.Fatal(err)
		}
		deps := Deps{Validator: v, Chain: m.ChainDER()}
		if err := deps.check(cfg); err != nil {
			b.Fatal(err)
		}
		o, err := start(context.Background(), h, cfg, deps, newGater())
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, o)
		if _, err := o.Subscribe(o.AnnounceTopic()); err != nil {
			b.Fatal(err)
		}
		return o
	}
	cfg := testConfig()
	cfg.Gossip.ValidateQueueSize = queue
	recv := mk(cfg, trustValidator(pki.Verifier(b)))
	drain(recv)
	accept := ValidatorFunc(func(context.Context, string, peer.ID, []byte) (Verdict, any) { return Accept, nil })
	var senders []*Overlay
	for range n {
		s := mk(testConfig(), accept)
		senders = append(senders, s)
	}
	if err := mn.LinkAll(); err != nil {
		b.Fatal(err)
	}
	for _, s := range senders {
		if _, err := mn.ConnectPeers(s.ID(), recv.ID()); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range senders {
		waitFor(b, 10*time.Second, "mesh", func() bool { return len(s.MeshPeers(s.AnnounceTopic())) == 1 })
	}
	return recv, senders, func() {
		for _, o := range all {
			o.Close()
		}
		mn.Close()
	}
}

// drain reads o's announce subscription so delivery never blocks.
func drain(o *Overlay) {
	o.gossip.mu.Lock()
	subs := o.gossip.topics[o.AnnounceTopic()].subscribers
	o.gossip.mu.Unlock()
	for _, s := range subs {
		go func() {
			for range s.Messages() {
			}
		}()
	}
}

// BenchmarkCatchUp48MiB measures one full catch-up of 48 items of 1 MiB
// asking for MaxSyncBytes per round, from a server capping each response at
// MaxSyncServeBytes (capped) and from one serving all that is asked
// (uncapped, the baseline: the cap's cost is the extra rounds). Both run in
// the same loop, alternating.
func BenchmarkCatchUp48MiB(b *testing.B) {
	pki := trusttest.NewPKI(b, testZone)
	cfg := testConfig()
	cfg.Sync.MaxBytes = MaxSyncBytes
	x := startNode(b, pki, nodeOpts{validator: acceptAll, cfg: cfg})
	var servers [2]*testNode
	for i := range servers {
		servers[i] = startNode(b, pki, nodeOpts{validator: acceptAll})
		for j := range 48 {
			data := make([]byte, MaxItemBytes-16)
			data[0], data[1] = byte(i), byte(j)
			if _, err := servers[i].Keep(KindAnnouncement, data); err != nil {
				b.Fatal(err)
			}
		}
		connect(b, x.Overlay, servers[i].Overlay)
	}
	servers[1].sync.serveMax = MaxSyncBytes
	var took [2]time.Duration
	var rounds [2]int
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		for i, s := range servers {
			x.sync.setCursor(s.ID(), cursor{})
			start := time.Now()
			res, err := x.SyncWith(ctx, s.ID())
			took[i] += time.Since(start)
			if err != nil || res.Received != 48 {
				b.Fatalf("catch-up: %+v, %v", res, err)
			}
			rounds[i] = res.Rounds
		}
	}
	b.ReportMetric(float64(took[0].Milliseconds())/float64(b.N), "capped-ms/op")
	b.ReportMetric(float64(took[1].Milliseconds())/float64(b.N), "uncapped-ms/op")
	b.ReportMetric(float64(rounds[0]), "capped-rounds")
	b.ReportMetric(float64(rounds[1]), "uncapped-rounds")
}

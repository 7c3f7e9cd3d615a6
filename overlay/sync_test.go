package overlay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// keeper emulates the node: it keeps every delivered announcement in the
// node's store, so peers can catch up from it.
func keeper(t testing.TB, n *testNode) *collector {
	t.Helper()
	sub, err := n.Subscribe(n.AnnounceTopic())
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{msgs: map[string]Message{}}
	go func() {
		for m := range sub.Messages() {
			if _, err := n.Keep(KindAnnouncement, m.Data); err != nil {
				t.Errorf("keeping: %v", err)
			}
			c.mu.Lock()
			c.msgs[string(m.Data)] = m
			c.mu.Unlock()
		}
	}()
	return c
}

// countingValidator records what it was asked to validate.
type countingValidator struct {
	next  MessageValidator
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingValidator) ValidateMessage(ctx context.Context, topic string, from peer.ID, data []byte) (Verdict, any) {
	c.mu.Lock()
	c.calls[string(data)]++
	c.mu.Unlock()
	return c.next.ValidateMessage(ctx, topic, from, data)
}

func (c *countingValidator) count(data []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[string(data)]
}

func stored(n *testNode, data []byte) bool {
	has, _ := n.deps.Store.Has(sha256.Sum256(data))
	return has
}

func withBootstrap(cfg Config, peers ...*testNode) Config {
	for _, p := range peers {
		cfg.BootstrapPeers = append(cfg.BootstrapPeers, p.Addrs()[0].String())
	}
	return cfg
}

func TestOfflineNodeCatchesUp(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	rogue := trusttest.NewPKI(t, testZone).Issue(t, testZone, trust.RoleSupernode)
	publisher := pki.Issue(t, testZone, trust.RoleSupernode)
	a := startNode(t, pki, nodeOpts{member: publisher})
	b := startNode(t, pki, nodeOpts{})
	connect(t, b.Overlay, a.Overlay)
	collect(t, a.Overlay, a.AnnounceTopic())
	keptByB := keeper(t, b)
	waitMesh(t, a.Overlay, a.AnnounceTopic(), 1)

	// x is online for the first announcement.
	dir := t.TempDir()
	xMember := pki.Issue(t, testZone)
	startX := func(v MessageValidator) (*testNode, *collector) {
		store, err := OpenBadgerStore(dir, DefaultKeep())
		if err != nil {
			t.Fatal(err)
		}
		x := startNode(t, pki, nodeOpts{member: xMember, store: store, validator: v, cfg: withBootstrap(testConfig(), b)})
		t.Cleanup(func() { store.Close() })
		return x, keeper(t, x)
	}
	x, gotX := startX(nil)
	waitMesh(t, b.Overlay, b.AnnounceTopic(), 2)
	ann := []([]byte){announcement(t, publisher, "a0"), announcement(t, publisher, "a1"), announcement(t, publisher, "a2"), announcement(t, publisher, "a3")}
	publish(t, a, ann[0])
	waitFor(t, 10*time.Second, "x receives a0", func() bool { return gotX.has(ann[0]) && stored(x, ann[0]) })

	// x goes offline; three announcements are published; b keeps them, and
	// b's store also holds a forgery x must refuse.
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x.deps.Store.Close()
	for _, m := range ann[1:] {
		publish(t, a, m)
	}
	waitFor(t, 10*time.Second, "b keeps a1..a3", func() bool {
		return keptByB.has(ann[1]) && keptByB.has(ann[2]) && keptByB.has(ann[3])
	})
	forged := announcement(t, rogue, "forged")
	if _, err := b.Keep(KindAnnouncement, forged); err != nil {
		t.Fatal(err)
	}

	// x comes back with its store and catches up from its bootstrap peer.
	v := &countingValidator{next: trustValidator(pki.Verifier(t)), calls: map[string]int{}}
	x, gotX = startX(v)
	waitFor(t, 20*time.Second, "x catches up a1..a3", func() bool {
		return gotX.has(ann[1]) && gotX.has(ann[2]) && gotX.has(ann[3])
	})
	for i, m := range ann[1:] {
		msg, _ := gotX.get(m)
		if !msg.CatchUp || msg.ReceivedFrom != b.ID() || msg.Kind != KindAnnouncement {
			t.Errorf("a%d arrived as %+v, want a catch-up item from b", i+1, msg)
		}
		if v.count(m) != 1 {
			t.Errorf("a%d validated %d times, want once", i+1, v.count(m))
		}
	}
	waitFor(t, 10*time.Second, "the forgery refused", func() bool { return x.Stats().CatchUpDropped == 1 })
	if gotX.has(forged) || gotX.has(ann[0]) || v.count(ann[0]) != 0 {
		t.Errorf("x delivered the forgery (%v) or re-delivered/re-validated a0 it already had (%v, %d)",
			gotX.has(forged), gotX.has(ann[0]), v.count(ann[0]))
	}
}

func TestReconnectAfterIsolationCatchesUp(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	publisher := pki.Issue(t, testZone, trust.RoleSupernode)
	a := startNode(t, pki, nodeOpts{member: publisher})
	b := startNode(t, pki, nodeOpts{})
	connect(t, b.Overlay, a.Overlay)
	collect(t, a.Overlay, a.AnnounceTopic())
	keptByB := keeper(t, b)
	x := startNode(t, pki, nodeOpts{cfg: withBootstrap(testConfig(), b)})
	gotX := keeper(t, x)
	waitMesh(t, a.Overlay, a.AnnounceTopic(), 1)
	waitFor(t, 10*time.Second, "x connected to b", func() bool { return connected(x.Overlay, b.Overlay) })

	// Cut x off: it cannot redial b while blocked.
	x.gater.block(b.ID())
	_ = x.Host().Network().ClosePeer(b.ID())
	waitFor(t, 10*time.Second, "x isolated", func() bool { return len(x.Host().Network().Peers()) == 0 })
	var missed [][]byte
	for i := range 3 {
		m := announcement(t, publisher, fmt.Sprintf("while-isolated-%d", i))
		missed = append(missed, m)
		publish(t, a, m)
	}
	waitFor(t, 10*time.Second, "b keeps them", func() bool {
		return keptByB.has(missed[0]) && keptByB.has(missed[1]) && keptByB.has(missed[2])
	})
	x.gater.unblock(b.ID())
	waitFor(t, 20*time.Second, "x catches up after reconnecting", func() bool {
		return gotX.has(missed[0]) && gotX.has(missed[1]) && gotX.has(missed[2])
	})
	if s := x.Stats(); s.CatchUpAccepted != 3 {
		t.Errorf("catch-up accepted %d items, want 3", s.CatchUpAccepted)
	}
}

func TestSyncCursorAndEpoch(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	publisher := pki.Issue(t, testZone)
	accept := ValidatorFunc(func(context.Context, string, peer.ID, []byte) (Verdict, any) { return Accept, nil })
	cfg := testConfig()
	cfg.Sync.MaxItems = 2 // several rounds
	a := startNode(t, pki, nodeOpts{member: publisher, validator: accept})
	x := startNode(t, pki, nodeOpts{validator: accept, cfg: cfg})
	// x does not subscribe to the announce topic, so no automatic catch-up
	// races the explicit ones below.
	connect(t, x.Overlay, a.Overlay)
	for i := range 5 {
		if _, err := a.Keep(KindAnnouncement, fmt.Appendf(nil, "item %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	res, err := x.SyncWith(ctx, a.ID())
	if err != nil || res.Accepted != 5 || res.Rounds != 3 {
		t.Fatalf("first sync = %+v, %v; want 5 accepted in 3 rounds", res, err)
	}
	// The cursor remembers a's position: only the new item comes.
	if _, err := a.Keep(KindCRL, []byte("crl 1")); err != nil {
		t.Fatal(err)
	}
	res, err = x.SyncWith(ctx, a.ID())
	if err != nil || res.Received != 1 || res.Accepted != 1 {
		t.Fatalf("second sync = %+v, %v; want just the new item", res, err)
	}
	// A cursor into another epoch (a's store was replaced) restarts at 0;
	// everything is already delivered, so nothing is validated again.
	x.sync.setCursor(a.ID(), cursor{epoch: 12345, seq: 99})
	res, err = x.SyncWith(ctx, a.ID())
	if err != nil || res.Received != 6 || res.Known != 6 || res.Accepted != 0 {
		t.Fatalf("sync after an epoch change = %+v, %v; want 6 received, all known", res, err)
	}
	if s := x.Stats(); s.Delivered != 6 || s.CatchUpAccepted != 6 {
		t.Errorf("stats %+v, want 6 items delivered once each", s)
	}
}

func TestSyncServerRefusesMalformedRequests(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	a := startNode(t, pki, nodeOpts{})
	for i := range 3 {
		if _, err := a.Keep(KindAnnouncement, fmt.Appendf(nil, "item %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	h, ctx := rawPeer(t, a.Overlay)
	ask := func(frame []byte) ([]byte, error) {
		s, err := h.NewStream(ctx, a.ID(), SyncProtocol)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		if _, err := s.Write(frame); err != nil {
			return nil, err
		}
		_ = s.CloseWrite()
		return readFrame(bufio.NewReader(s), 1<<20)
	}
	valid := syncRequest{MaxItems: 2, MaxBytes: 1 << 20}
	body, err := ask(appendFrame(encodeSyncRequest(valid)))
	if err != nil {
		t.Fatalf("valid request: %v", err)
	}
	resp, err := decodeSyncResponse(body, valid)
	if err != nil || len(resp.Items) != 2 || resp.Head != 3 || resp.Epoch != a.deps.Store.Epoch() {
		t.Errorf("valid request answered %+v, %v; want 2 of 3 items", resp, err)
	}
	for name, frame := range map[string][]byte{
		"garbage":         []byte("GET / HTTP/1.1\r\n\r\n"),
		"too many items":  appendFrame(encodeSyncRequest(syncRequest{MaxItems: MaxSyncItems + 1, MaxBytes: 1})),
		"oversized frame": appendFrame(make([]byte, maxSyncRequestBytes+1)),
		"wrong version":   appendFrame(append([]byte{7}, encodeSyncRequest(valid)[1:]...)),
	} {
		if body, err := ask(frame); err == nil {
			t.Errorf("%s: answered %x, want the stream reset", name, body)
		}
	}
}

func appendFrame(body []byte) []byte {
	var buf bytes.Buffer
	_ = writeFrame(&buf, body)
	return buf.Bytes()
}

// TestPeriodicCatchUpWhileConnected: x finished its start-up catch-up and
// was never cut off, so no episode starts, and b's item never travels by
// gossip; only the periodic catch-up brings it.
func TestPeriodicCatchUpWhileConnected(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	publisher := pki.Issue(t, testZone, trust.RoleSupernode)
	b := startNode(t, pki, nodeOpts{})
	c := startNode(t, pki, nodeOpts{})
	cfg := withBootstrap(testConfig(), c)
	cfg.Sync.Peers = 1
	cfg.Sync.Interval = duration.Duration(time.Second)
	x := startNode(t, pki, nodeOpts{cfg: cfg})
	gotX := keeper(t, x)
	waitFor(t, 10*time.Second, "x's start-up catch-up from c", func() bool { return x.sync.lastSynced(c.ID()) })

	missed := announcement(t, publisher, "kept by b alone")
	if _, err := b.Keep(KindAnnouncement, missed); err != nil {
		t.Fatal(err)
	}
	connect(t, x.Overlay, b.Overlay)
	waitFor(t, 20*time.Second, "x catching up from b on its own", func() bool { return gotX.has(missed) })
	if msg, _ := gotX.get(missed); !msg.CatchUp || msg.ReceivedFrom != b.ID() {
		t.Errorf("arrived as %+v, want a catch-up item from b", msg)
	}
}

func TestJitteredStaysWithinAQuarter(t *testing.T) {
	for range 1000 {
		if d := jittered(time.Minute); d < 45*time.Second || d > 75*time.Second {
			t.Fatalf("jittered(1m) = %v, want 45s to 75s", d)
		}
	}
}

// lastSynced reports whether a catch-up round with p has completed.
func (s *syncer) lastSynced(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.cursors[p].at.IsZero()
}

// TestSyncServeSlotsNotHeldByOnePeer: one peer asks for the largest
// response and holds more silent catch-up streams than there are serve
// slots; its answer stays under MaxSyncServeBytes, and another node still
// catches up (in several rounds).
func TestSyncServeSlotsNotHeldByOnePeer(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	a := startNode(t, pki, nodeOpts{validator: acceptAll})
	const items = 12
	for i := range items {
		data := make([]byte, MaxItemBytes-16)
		data[0] = byte(i)
		if _, err := a.Keep(KindAnnouncement, data); err != nil {
			t.Fatal(err)
		}
	}
	h, ctx := rawPeer(t, a.Overlay)
	greedy := syncRequest{MaxItems: MaxSyncItems, MaxBytes: MaxSyncBytes}
	resp, err := askSync(ctx, h, a.ID(), greedy)
	if err != nil {
		t.Fatalf("asking for %d bytes: %v", greedy.MaxBytes, err)
	}
	size := 0
	for _, it := range resp.Items {
		size += len(it.Data)
	}
	if size == 0 || size > MaxSyncServeBytes || resp.Head != items {
		t.Errorf("a request for %d bytes got %d bytes (head %d); want 1 to %d bytes", greedy.MaxBytes, size, resp.Head, MaxSyncServeBytes)
	}

	n := MaxConcurrentSyncServes + 2
	ended := holdStreams(t, ctx, h, a.ID(), SyncProtocol, n)
	waitFor(t, 10*time.Second, "every silent stream held or refused", func() bool { return len(a.sync.sem)+ended() >= n })
	cfg := testConfig()
	cfg.Sync.MaxBytes = MaxSyncBytes
	x := startNode(t, pki, nodeOpts{validator: acceptAll, cfg: cfg})
	connect(t, x.Overlay, a.Overlay)
	res, err := x.SyncWith(ctx, a.ID())
	if err != nil || res.Accepted != items || res.Rounds < 2 {
		t.Errorf("catching up during the attack: %+v, %v; want %d items in several rounds", res, err, items)
	}
}

// TestMeshCatchUpAfterStart: x finished its start-up catch-up from c (which
// is not on the announce topic, so no mesh) and catches up periodically
// never; b holds an item that never travels by gossip. When x's mesh on
// the announce topic forms, with b, x catches up from b at once.
func TestMeshCatchUpAfterStart(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	publisher := pki.Issue(t, testZone, trust.RoleSupernode)
	b := startNode(t, pki, nodeOpts{})
	keeper(t, b) // b joins the announce topic
	c := startNode(t, pki, nodeOpts{})
	cfg := withBootstrap(testConfig(), c)
	cfg.Sync.Peers = 1
	cfg.Sync.Interval = 0
	x := startNode(t, pki, nodeOpts{cfg: cfg})
	gotX := keeper(t, x)
	waitFor(t, 10*time.Second, "x's start-up catch-up from c", func() bool { return x.sync.lastSynced(c.ID()) })

	missed := announcement(t, publisher, "published while x was joining")
	if _, err := b.Keep(KindAnnouncement, missed); err != nil {
		t.Fatal(err)
	}
	connect(t, x.Overlay, b.Overlay)
	waitMesh(t, x.Overlay, x.AnnounceTopic(), 1)
	waitFor(t, 20*time.Second, "x catching up from b on joining the mesh", func() bool { return gotX.has(missed) })
	if msg, _ := gotX.get(missed); !msg.CatchUp || msg.ReceivedFrom != b.ID() {
		t.Errorf("arrived as %+v, want a catch-up item from b", msg)
	}
}

package overlay

import (
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Stats counts what the overlay did with messages since start.
type Stats struct {
	// Delivered counts messages handed to subscribers (gossip and catch-up).
	Delivered uint64
	// Rejected counts gossip messages the validator rejected.
	Rejected uint64
	// Ignored counts gossip messages the validator ignored.
	Ignored uint64
	// QueueFull counts gossip messages dropped unvalidated because the
	// validation queue was full.
	QueueFull uint64
	// Throttled counts gossip messages dropped because too many validations
	// were in flight.
	Throttled uint64
	// BadSignature counts gossip messages whose pubsub signature was
	// missing or invalid (dropped before the validator).
	BadSignature uint64
	// Undeliverable counts messages pubsub dropped because a subscription's
	// buffer was full.
	Undeliverable uint64
	// Duplicates counts gossip messages dropped unvalidated because their
	// message ID (Deps.MessageID: equal for re-encoded copies) was seen.
	Duplicates uint64
	// CatchUpAccepted and CatchUpDropped count catch-up items the validator
	// accepted or refused (or that were malformed or duplicates).
	CatchUpAccepted uint64
	CatchUpDropped  uint64
	// AuthVerified and AuthFailed count admission exchanges.
	AuthVerified uint64
	AuthFailed   uint64
	// AuthBusyRetries counts auth streams a peer refused as busy and that
	// this node opened again.
	AuthBusyRetries uint64
	// SyncRefused counts catch-up requests refused unserved: a second one
	// from the same peer, all slots busy, or (private zone) a peer not
	// admitted.
	SyncRefused uint64
	// PXDeclined counts peers a supernode's prune named (peer exchange)
	// that this node did not dial: it had its low water mark of
	// connections already.
	PXDeclined uint64
	// DiscoveryLookups counts the DHT lookups of its own key this node ran
	// to find peers while it had fewer than DiscoveryPeers.
	DiscoveryLookups uint64
	// Graylisted counts peers this node disconnected and kept out for
	// BlockDuration because their gossip score fell below the graylist
	// threshold (gossip.dropGraylisted).
	Graylisted uint64
	// Relinks counts connections to a silent supernode this node closed and
	// dialled again (relink.go); RelinksDeferred counts the rounds a relink
	// waited for an artifact transfer on that connection to end.
	Relinks, RelinksDeferred uint64
}

// counters is the live form of Stats.
type counters struct {
	delivered, rejected, ignored, queueFull, throttled, badSig, undeliverable        atomic.Uint64
	duplicates                                                                       atomic.Uint64
	catchUpAccepted, catchUpDropped, authVerified, authFailed, authBusy, syncRefused atomic.Uint64
	pxDeclined, discoveryLookups, relinks, relinksDeferred, graylisted               atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Delivered: c.delivered.Load(), Rejected: c.rejected.Load(), Ignored: c.ignored.Load(),
		QueueFull: c.queueFull.Load(), Throttled: c.throttled.Load(), BadSignature: c.badSig.Load(),
		Undeliverable:   c.undeliverable.Load(),
		Duplicates:      c.duplicates.Load(),
		CatchUpAccepted: c.catchUpAccepted.Load(), CatchUpDropped: c.catchUpDropped.Load(),
		AuthVerified: c.authVerified.Load(), AuthFailed: c.authFailed.Load(),
		AuthBusyRetries: c.authBusy.Load(), SyncRefused: c.syncRefused.Load(),
		PXDeclined: c.pxDeclined.Load(), DiscoveryLookups: c.discoveryLookups.Load(),
		Relinks: c.relinks.Load(), RelinksDeferred: c.relinksDeferred.Load(),
		Graylisted: c.graylisted.Load(),
	}
}

// tracer feeds counters and the mesh view from pubsub's raw trace events.
// Pubsub calls it synchronously from its event loop: it must not block.
type tracer struct {
	c    *counters
	mesh *meshView
	// received notes when the router took in each message's first copy
	// (Message.Received), by arrivalKey.
	received *lru.Cache[string, time.Time]
	// delivered is the overlay's set of messages delivered (by ID): a
	// copy arriving after its message was delivered leaves no note.
	delivered *lru.Cache[[32]byte, struct{}]
}

// meshView mirrors the router's mesh per topic.
type meshView struct {
	mu    sync.Mutex
	peers map[string]map[peer.ID]bool
	// formed, if set, is called (outside mu, from pubsub's event loop: it
	// must not block) when a topic's mesh goes from empty to p.
	formed func(topic string, p peer.ID)
}

// onFormed sets the callback for a topic's mesh forming.
func (m *meshView) onFormed(fn func(topic string, p peer.ID)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.formed = fn
}

func newMeshView() *meshView { return &meshView{peers: map[string]map[peer.ID]bool{}} }

func (m *meshView) list(topic string) []peer.ID {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]peer.ID, 0, len(m.peers[topic]))
	for p := range m.peers[topic] {
		out = append(out, p)
	}
	return out
}

func (t tracer) Graft(p peer.ID, topic string) {
	t.mesh.mu.Lock()
	if t.mesh.peers[topic] == nil {
		t.mesh.peers[topic] = map[peer.ID]bool{}
	}
	first := len(t.mesh.peers[topic]) == 0
	t.mesh.peers[topic][p] = true
	formed := t.mesh.formed
	t.mesh.mu.Unlock()
	if first && formed != nil {
		formed(topic, p)
	}
}

func (t tracer) Prune(p peer.ID, topic string) {
	t.mesh.mu.Lock()
	defer t.mesh.mu.Unlock()
	delete(t.mesh.peers[topic], p)
}

func (t tracer) OnClosedOutboundStream(p peer.ID) {
	t.mesh.mu.Lock()
	defer t.mesh.mu.Unlock()
	for _, peers := range t.mesh.peers {
		delete(peers, p)
	}
}

func (t tracer) Leave(topic string) {
	t.mesh.mu.Lock()
	defer t.mesh.mu.Unlock()
	delete(t.mesh.peers, topic)
}

var _ pubsub.RawTracer = tracer{}

// RecvRPC notes when the router took in the first copy of each message
// an RPC carries, before its queues and checks: its Received time.
func (t tracer) RecvRPC(rpc *pubsub.RPC) {
	if t.received == nil || len(rpc.GetPublish()) == 0 {
		return
	}
	now := time.Now()
	for _, m := range rpc.GetPublish() {
		t.received.ContainsOrAdd(arrivalKey(m.GetFrom(), m.GetSeqno()), now)
	}
}

// DuplicateMessage counts a copy of a message seen before and, once the
// message was delivered, drops the note RecvRPC made for this copy: only
// a copy arriving while its first is still in validation leaves the
// first's note alone.
func (t tracer) DuplicateMessage(m *pubsub.Message) {
	t.c.duplicates.Add(1)
	if t.received == nil || t.delivered == nil || len(m.ID) != len([32]byte{}) {
		return
	}
	if t.delivered.Contains([32]byte([]byte(m.ID))) {
		t.received.Remove(arrivalKey(m.Message.GetFrom(), m.GetSeqno()))
	}
}

// arrivalKey names a gossip message by its author and sequence number,
// which StrictSign makes every message carry: known when an RPC arrives,
// before the message's ID is computed.
func arrivalKey(from, seqno []byte) string { return string(from) + "/" + string(seqno) }

func (t tracer) RejectMessage(m *pubsub.Message, reason string) {
	if t.received != nil && m != nil {
		t.received.Remove(arrivalKey(m.Message.GetFrom(), m.GetSeqno()))
	}
	switch reason {
	case pubsub.RejectValidationFailed:
		t.c.rejected.Add(1)
	case pubsub.RejectValidationIgnored:
		t.c.ignored.Add(1)
	case pubsub.RejectValidationQueueFull:
		t.c.queueFull.Add(1)
	case pubsub.RejectValidationThrottled:
		t.c.throttled.Add(1)
	case pubsub.RejectMissingSignature, pubsub.RejectInvalidSignature, pubsub.RejectUnexpectedSignature:
		t.c.badSig.Add(1)
	}
}

func (t tracer) UndeliverableMessage(*pubsub.Message)               { t.c.undeliverable.Add(1) }
func (tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (tracer) Join(string)                                          {}
func (tracer) ValidateMessage(*pubsub.Message)                      {}
func (tracer) DeliverMessage(*pubsub.Message)                       {}
func (tracer) ThrottlePeer(peer.ID)                                 {}
func (tracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (tracer) DropRPC(*pubsub.RPC, peer.ID)                         {}

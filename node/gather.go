package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
)

// gathering decides when a supernode announces to the agents a payload it
// co-signed. Every co-signature first goes to the other supernodes, on
// their topic; a supernode announces once the co-signatures it holds reach
// the zone's k, and then waits CoSignCoalesce for any still in flight, so
// supernodes that finish their checks together all announce the same
// envelope. Its message id names its payload and signature set, so those
// copies are one gossip message: the agents get one flood carrying k or
// more co-signatures, where each supernode announcing its own copy made as
// many floods as supernodes, each verified and relayed by every agent at
// the same moment (a 300-agent zone took twice as long to reach its last
// agent with three supernodes as with one).
//
// The wait is for co-signatures in flight, so there is none once every
// supernode this node hears on their topic has co-signed: it announces at
// once (a healthy zone's common case, where all finish their checks
// within a few milliseconds). One silent or slow supernode costs the wait,
// never more; a peer that is not a verified supernode of the zone does not
// count, so subscribing to the topic cannot make anyone wait or hurry.
//
// CoSignGatherWindow after its own co-signature the supernode announces
// once more if it holds more co-signatures than it announced (or announces
// what it holds if k never came: an agent may need fewer, or the other
// supernodes are slow), and forgets the payload. A co-signature arriving
// later is announced by its own signer. A supernode with no other on
// their topic (none connected, or a zone of one) has nobody to gather
// from and announces at once.
type gathering struct {
	mu      sync.Mutex
	pending map[payloadKey]*gatherState
}

// gatherState is one payload this supernode co-signed, within the window.
type gatherState struct {
	announced int  // supernode co-signatures in this node's last announced copy
	due       bool // an announce is scheduled within CoSignCoalesce
}

// gatherOwn starts the window of a payload this supernode just co-signed
// (and sent to the other supernodes).
func (n *Node) gatherOwn(ctx context.Context, k payloadKey) {
	g := &n.cosigner.gather
	g.mu.Lock()
	if g.pending == nil {
		g.pending = make(map[payloadKey]*gatherState)
	}
	if g.pending[k] == nil {
		g.pending[k] = &gatherState{}
		time.AfterFunc(gatherWindow(), func() { n.gatherEnd(ctx, k) })
	}
	g.mu.Unlock()
	if len(n.ov.TopicPeers(n.ov.SupernodesTopic())) == 0 {
		n.announceGathered(ctx, k, 0)
		return
	}
	n.gatherHeard(ctx, k)
}

// gatherHeard is called whenever co-signatures of a payload are merged
// here: once they reach k (and this supernode co-signed the payload and
// has not announced k yet), it announces at once if every supernode it
// hears has co-signed, and otherwise schedules the announce CoSignCoalesce
// later.
func (n *Node) gatherHeard(ctx context.Context, k payloadKey) {
	g := &n.cosigner.gather
	have := n.coSignatures(k)
	if have < n.cfg.Threshold || g.waiting(k, n.cfg.Threshold) == nil {
		return
	}
	// Asked of the router outside the lock, and only for a payload still
	// waiting for its first announce.
	allIn := have >= n.supernodesHeard() && n.hearsAgents()
	g.mu.Lock()
	st := g.waitingLocked(k, n.cfg.Threshold)
	switch {
	case st == nil:
		g.mu.Unlock()
	case allIn:
		already := st.announced
		st.announced = have // claimed here, so a concurrent call does not announce it too
		g.mu.Unlock()
		n.announceGathered(ctx, k, already)
	case st.due:
		g.mu.Unlock()
	default:
		st.due = true
		g.mu.Unlock()
		time.AfterFunc(gatherCoalesce(), func() {
			g.mu.Lock()
			already := st.announced
			g.mu.Unlock()
			// Announced (announced ≥ k) before due clears, so a co-signature
			// heard meanwhile schedules no second announce of the same set.
			n.announceGathered(ctx, k, already)
			g.mu.Lock()
			st.due = false
			g.mu.Unlock()
		})
	}
}

// waiting returns k's state while this supernode co-signed it and has not
// announced k co-signatures of it yet, else nil.
func (g *gathering) waiting(k payloadKey, threshold int) *gatherState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waitingLocked(k, threshold)
}

// waitingLocked is waiting with g.mu held.
func (g *gathering) waitingLocked(k payloadKey, threshold int) *gatherState {
	if st := g.pending[k]; st != nil && st.announced < threshold {
		return st
	}
	return nil
}

// supernodesHeard counts this supernode and the verified supernodes of its
// zone it hears on their topic: the co-signatures a gather can expect.
// A node whose router knows no agent on the announce topic (hearsAgents)
// waits whatever it holds.
func (n *Node) supernodesHeard() int {
	count := 1
	for _, p := range n.ov.TopicPeers(n.ov.SupernodesTopic()) {
		if n.peerHolds(p, trust.RoleSupernode) {
			count++
		}
	}
	return count
}

// hearsAgents reports whether the announce topic has a subscriber this
// node does not know as a signer of its zone (a verified supernode or
// publisher): someone a flood reaches who has not merged the supernodes'
// co-signatures already. A supernode that just started knows only
// signers there, which relay nothing new, so announcing at once reached
// no agent (TestLateSupernodeCatchesUpAndCoSigns).
func (n *Node) hearsAgents() bool {
	for _, p := range n.ov.TopicPeers(n.ov.AnnounceTopic()) {
		if !n.peerHolds(p, trust.RoleSupernode) && !n.peerHolds(p, trust.RolePublisher) {
			return true
		}
	}
	return false
}

// peerHolds reports whether admission verified the connected peer p as
// holding role in this node's zone.
func (n *Node) peerHolds(p peer.ID, role trust.Role) bool {
	info, ok := n.ov.PeerInfo(p)
	return ok && n.verifiedAs(info, role)
}

// gatherEnd closes the window: a last announce if this node holds more
// co-signatures than it announced.
func (n *Node) gatherEnd(ctx context.Context, k payloadKey) {
	g := &n.cosigner.gather
	g.mu.Lock()
	st := g.pending[k]
	delete(g.pending, k)
	g.mu.Unlock()
	if st != nil {
		n.announceGathered(ctx, k, st.announced)
	}
}

// announceGathered publishes every co-signature merged for k on the
// announce topic, unless there are no more than already (supernode
// co-signatures in the last announce).
func (n *Node) announceGathered(ctx context.Context, k payloadKey, already int) {
	view := n.merge.view(k)
	if view == nil {
		return // expired
	}
	count := len(view.Accepted.Supernodes)
	if count <= already {
		return
	}
	g := &n.cosigner.gather
	g.mu.Lock()
	if st := g.pending[k]; st != nil {
		st.announced = max(st.announced, count)
	}
	g.mu.Unlock()
	a := view.Accepted.Announcement
	out, err := view.Envelope.Marshal()
	if err == nil {
		err = n.ov.Publish(ctx, n.ov.AnnounceTopic(), out)
	}
	if err != nil && ctx.Err() == nil {
		n.log.Warn("announcing co-signed update", "id", a.ID, "version", a.Patchnet.Version, "err", err)
	}
}

// coSignatures counts the supernode co-signatures merged here for k.
func (n *Node) coSignatures(k payloadKey) int {
	if view := n.merge.view(k); view != nil {
		return len(view.Accepted.Supernodes)
	}
	return 0
}

// coalesceOverride and windowOverride, when positive, replace
// CoSignCoalesce and CoSignGatherWindow: set by this package's tests only
// (export_test.go).
var coalesceOverride, windowOverride atomic.Int64

func gatherCoalesce() time.Duration {
	if d := time.Duration(coalesceOverride.Load()); d > 0 {
		return d
	}
	return CoSignCoalesce
}

func gatherWindow() time.Duration {
	if d := time.Duration(windowOverride.Load()); d > 0 {
		return d
	}
	return CoSignGatherWindow
}

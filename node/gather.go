package node

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

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
	heard := n.supernodesHeard()
	if !n.hearsAgents() {
		// Just started: its router knows no subscriber of the announce
		// topic but signers, which merged these co-signatures from their
		// own topic already and relay nothing new, so a flood now would
		// reach no agent. The wait gives the agents' hellos time to come.
		heard = math.MaxInt
	}
	g := &n.cosigner.gather
	g.mu.Lock()
	st := g.pending[k]
	have := n.coSignatures(k)
	if st == nil || st.announced >= n.cfg.Threshold || have < n.cfg.Threshold {
		g.mu.Unlock()
		return
	}
	if have >= heard {
		already := st.announced
		st.announced = have // claimed here, so a concurrent call does not announce it too
		g.mu.Unlock()
		n.announceGathered(ctx, k, already)
		return
	}
	if st.due {
		g.mu.Unlock()
		return
	}
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

// supernodesHeard counts this supernode and the verified supernodes of its
// zone it hears on their topic: the co-signatures a gather can expect.
func (n *Node) supernodesHeard() int {
	count := 1
	for _, p := range n.ov.TopicPeers(n.ov.SupernodesTopic()) {
		info, ok := n.ov.PeerInfo(p)
		if ok && info.Verified && info.Identity.HasRole(trust.RoleSupernode) &&
			info.Identity.Zone == n.zone.Name && info.Identity.Root == n.zone.Root {
			count++
		}
	}
	return count
}

// hearsAgents reports whether the announce topic has a subscriber this
// node does not know as a signer of its zone (a verified supernode or
// publisher): someone a flood reaches who has not merged the supernodes'
// co-signatures already.
func (n *Node) hearsAgents() bool {
	for _, p := range n.ov.TopicPeers(n.ov.AnnounceTopic()) {
		info, ok := n.ov.PeerInfo(p)
		signer := ok && info.Verified && info.Identity.Zone == n.zone.Name &&
			(info.Identity.HasRole(trust.RoleSupernode) || info.Identity.HasRole(trust.RolePublisher))
		if !signer {
			return true
		}
	}
	return false
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

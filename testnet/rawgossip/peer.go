package rawgossip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Peer is one baseline node in this process: gossipsub at its defaults
// on h, subscribed to Topic. It times the first delivery of each round's
// message (the round number is its first 8 bytes) and counts its grafts,
// prunes and duplicates.
type Peer struct {
	h     host.Host
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription

	dup, graft, prune atomic.Int64

	mu  sync.Mutex
	got map[int64]time.Time // round → first delivery
	// changed is signalled (never blocking) on every count or delivery,
	// for Serve to report it.
	changed chan struct{}
}

// New starts gossipsub on h (which the caller keeps and closes) and
// subscribes to Topic; the peer reads its deliveries until ctx ends.
func New(ctx context.Context, h host.Host) (*Peer, error) {
	p := &Peer{h: h, got: map[int64]time.Time{}, changed: make(chan struct{}, 1)}
	var err error
	if p.ps, err = pubsub.NewGossipSub(ctx, h, pubsub.WithRawTracer(tracer{p: p})); err != nil {
		return nil, fmt.Errorf("starting gossipsub: %w", err)
	}
	if p.topic, err = p.ps.Join(Topic); err == nil {
		p.sub, err = p.topic.Subscribe()
	}
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", Topic, err)
	}
	go p.read(ctx)
	return p, nil
}

// Host is the peer's libp2p host.
func (p *Peer) Host() host.Host { return p.h }

// PubSub is the peer's gossipsub router, for a runner that joins more
// topics with it (the sim's flooding peer).
func (p *Peer) PubSub() *pubsub.PubSub { return p.ps }

// Grafts, Prunes and Duplicates count the peer's mesh changes and the
// copies of a message it received after the first.
func (p *Peer) Grafts() int64     { return p.graft.Load() }
func (p *Peer) Prunes() int64     { return p.prune.Load() }
func (p *Peer) Duplicates() int64 { return p.dup.Load() }

// Got is when round's message first reached the peer.
func (p *Peer) Got(round int64) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.got[round]
	return at, ok
}

// Publish publishes round's message, size bytes (at least 8) of random
// data after the round number, and returns when it did.
func (p *Peer) Publish(ctx context.Context, round int64, size int) (time.Time, error) {
	if size > MaxMessageBytes {
		return time.Time{}, fmt.Errorf("publishing round %d: %d bytes, over the limit of %d", round, size, MaxMessageBytes)
	}
	msg := make([]byte, max(size, 8))
	rand.Read(msg)
	binary.BigEndian.PutUint64(msg, uint64(round))
	at := time.Now()
	if err := p.topic.Publish(ctx, msg); err != nil {
		return time.Time{}, fmt.Errorf("publishing round %d: %w", round, err)
	}
	return at, nil
}

// read records the first delivery of each round's message from others.
func (p *Peer) read(ctx context.Context) {
	for {
		m, err := p.sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == p.h.ID() || len(m.Data) < 8 {
			continue
		}
		round := int64(binary.BigEndian.Uint64(m.Data))
		p.mu.Lock()
		if _, ok := p.got[round]; !ok {
			p.got[round] = time.Now()
		}
		p.mu.Unlock()
		p.signal()
	}
}

// signal tells Serve something changed.
func (p *Peer) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// tracer counts a peer's grafts, prunes and duplicates.
type tracer struct{ p *Peer }

func (t tracer) Graft(peer.ID, string)                              { t.p.graft.Add(1); t.p.signal() }
func (t tracer) DuplicateMessage(*pubsub.Message)                   { t.p.dup.Add(1); t.p.signal() }
func (t tracer) Prune(peer.ID, string)                              { t.p.prune.Add(1); t.p.signal() }
func (tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (tracer) OnClosedOutboundStream(peer.ID)                       {}
func (tracer) Join(string)                                          {}
func (tracer) Leave(string)                                         {}
func (tracer) ValidateMessage(*pubsub.Message)                      {}
func (tracer) DeliverMessage(*pubsub.Message)                       {}
func (tracer) RejectMessage(*pubsub.Message, string)                {}
func (tracer) UndeliverableMessage(*pubsub.Message)                 {}
func (tracer) ThrottlePeer(peer.ID)                                 {}
func (tracer) RecvRPC(*pubsub.RPC)                                  {}
func (tracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (tracer) DropRPC(*pubsub.RPC, peer.ID)                         {}

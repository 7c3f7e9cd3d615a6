package overlay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Message is one validated message handed to a subscriber.
type Message struct {
	// Topic it arrived on (catch-up items arrive on the announce topic).
	Topic string
	// Data is the signed bytes, accepted by the node's MessageValidator.
	Data []byte
	// Hash is the message's ID (Deps.MessageID): equal for re-encoded
	// copies of one message.
	Hash [32]byte
	// Verified is what the node's validator made of Data when it accepted
	// it (pubsub's ValidatorData): the one verified value the node acts on.
	Verified any
	// ReceivedFrom is the peer that delivered it: a relay or the catch-up
	// server, not necessarily its author.
	ReceivedFrom peer.ID
	// Author is the gossip message's signer (pubsub StrictSign); empty for
	// catch-up items.
	Author peer.ID
	// CatchUp is true for items fetched by /patchnet/sync/1.0.0.
	CatchUp bool
	// Kind is the serving peer's claim for a catch-up item (unverified).
	Kind Kind
	// Received is when the message reached this node, before any check:
	// when gossipsub's router took in the RPC with its first copy, or
	// when a catch-up item was read. Received to its delivery is what the
	// node's validation and its queues took.
	Received time.Time
}

// ErrForeignTopic is returned for a topic outside this node's zone.
var ErrForeignTopic = errors.New("topic outside this zone")

// ErrOversized is returned when publishing more than the message limit.
var ErrOversized = errors.New("message too large")

// gossip owns the pubsub router, joined topics and local subscribers.
type gossip struct {
	cfg       Config
	ps        *pubsub.PubSub
	validator MessageValidator
	msgID     func(topic string, data []byte) [32]byte
	stats     *counters
	mesh      *meshView
	zoneRE    func(string) bool

	mu        sync.Mutex
	topics    map[string]*joinedTopic
	scores    map[peer.ID]float64
	snapshots int // score snapshots taken
	// drop is called for each peer a snapshot finds below the graylist
	// threshold (Overlay.dropGraylisted); set once at start, under mu.
	drop func(p peer.ID, score float64)

	delivered *lru.Cache[[32]byte, struct{}]
	// received holds when each message's first copy arrived (tracer),
	// until it is delivered or refused.
	received *lru.Cache[string, time.Time]
	// onSubscribe is called after each new local subscription.
	onSubscribe func(topic string)
	ctx         context.Context
	wg          *sync.WaitGroup
}

type joinedTopic struct {
	topic       *pubsub.Topic
	sub         *pubsub.Subscription
	subscribers []*Subscription
}

// messageIDFn adapts Deps.MessageID to gossipsub: identical or re-encoded
// bytes published by different nodes (a co-signed announcement relayed by
// two supernodes, an item re-fetched by catch-up) are one message.
func messageIDFn(id func(string, []byte) [32]byte) func(*pb.Message) string {
	return func(m *pb.Message) string {
		sum := id(m.GetTopic(), m.GetData())
		return string(sum[:])
	}
}

func newGossip(ctx context.Context, wg *sync.WaitGroup, h host.Host, cfg Config, deps Deps, stats *counters, app func(peer.ID) float64) (*gossip, error) {
	delivered, err := lru.New[[32]byte, struct{}](DeliveredCacheSize)
	if err != nil {
		return nil, err
	}
	received, err := lru.New[string, time.Time](ReceivedCacheSize)
	if err != nil {
		return nil, err
	}
	g := &gossip{
		cfg: cfg, validator: deps.Validator, msgID: deps.MessageID, stats: stats, mesh: newMeshView(), zoneRE: zoneTopicsRE(cfg.Zone).MatchString,
		topics: map[string]*joinedTopic{}, delivered: delivered, received: received, ctx: ctx, wg: wg,
	}
	known := []string{AnnounceTopic(cfg.Zone), CRLTopic(cfg.Zone), HeartbeatTopic(cfg.Zone), SupernodesTopic(cfg.Zone)}
	for _, c := range cfg.Collectives {
		known = append(known, CollectiveTopic(cfg.Zone, c))
	}
	opts := []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMessageIdFn(messageIDFn(deps.MessageID)),
		pubsub.WithSubscriptionFilter(newSubscriptionFilter(cfg.Zone)),
		pubsub.WithMaxMessageSize(cfg.Gossip.MaxMessageBytes + RPCOverheadBytes),
		pubsub.WithValidateQueueSize(cfg.Gossip.ValidateQueueSize),
		pubsub.WithPeerOutboundQueueSize(cfg.Gossip.PeerOutboundQueueSize),
		pubsub.WithSeenMessagesTTL(time.Duration(cfg.Gossip.SeenMessagesTTL)),
		pubsub.WithDefaultValidator(pubsub.ValidatorEx(g.validate),
			pubsub.WithValidatorConcurrency(cfg.Gossip.ValidateConcurrency),
			pubsub.WithValidatorTimeout(ValidateTimeout)),
		pubsub.WithRawTracer(tracer{c: stats, mesh: g.mesh, received: received, delivered: delivered}),
		pubsub.WithFloodPublish(cfg.Supernode),
		pubsub.WithPeerScore(peerScoreParams(cfg.Score, app, known), peerScoreThresholds(cfg.Score)),
		pubsub.WithPeerExchange(cfg.Supernode),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(g.inspectScores), time.Duration(cfg.Score.InspectInterval)),
	}
	if cfg.Gossip.ValidateWorkers > 0 {
		opts = append(opts, pubsub.WithValidateWorkers(cfg.Gossip.ValidateWorkers))
	}
	ps, err := pubsub.NewGossipSub(ctx, pxHost{Host: h, low: cfg.Resources.ConnLow, declined: &stats.pxDeclined}, opts...)
	if err != nil {
		return nil, fmt.Errorf("starting gossipsub: %w", err)
	}
	g.ps = ps
	return g, nil
}

// validate runs every gossip message through the node's validator after
// the overlay's own cheap checks.
func (g *gossip) validate(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if len(m.Data) > g.cfg.Gossip.MaxMessageBytes || len(m.Data) == 0 || !g.zoneRE(m.GetTopic()) {
		return pubsub.ValidationReject
	}
	v, verified := g.validator.ValidateMessage(ctx, m.GetTopic(), from, m.Data)
	if v == Accept {
		m.ValidatorData = verified
	}
	return v.pubsubResult()
}

// inspectScores keeps pubsub's periodic score snapshot and drops the
// peers it finds graylisted.
func (g *gossip) inspectScores(scores map[peer.ID]float64) {
	g.mu.Lock()
	g.scores = scores
	g.snapshots++
	drop := g.drop
	g.mu.Unlock()
	for p, s := range scores {
		if s < g.cfg.Score.GraylistThreshold && drop != nil {
			drop(p, s)
		}
	}
}

// onGraylisted sets what inspectScores calls for a graylisted peer.
func (g *gossip) onGraylisted(drop func(p peer.ID, score float64)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.drop = drop
}

func (g *gossip) scoreSnapshots() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.snapshots
}

// peerScores returns the latest score snapshot.
func (g *gossip) peerScores() map[peer.ID]float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[peer.ID]float64, len(g.scores))
	for p, s := range g.scores {
		out[p] = s
	}
	return out
}

func (g *gossip) checkTopic(topic string) error {
	if !g.zoneRE(topic) {
		return fmt.Errorf("topic %q: %w %q", topic, ErrForeignTopic, g.cfg.Zone)
	}
	return nil
}

// join returns the topic handle, joining once. Caller holds g.mu.
func (g *gossip) join(topic string) (*joinedTopic, error) {
	if jt, ok := g.topics[topic]; ok {
		return jt, nil
	}
	t, err := g.ps.Join(topic)
	if err != nil {
		return nil, fmt.Errorf("joining %q: %w", topic, err)
	}
	if err := t.SetScoreParams(topicScoreParams(g.cfg.Score)); err != nil {
		t.Close()
		return nil, fmt.Errorf("scoring %q: %w", topic, err)
	}
	jt := &joinedTopic{topic: t}
	g.topics[topic] = jt
	return jt, nil
}

func (g *gossip) publish(ctx context.Context, topic string, data []byte) error {
	if err := g.checkTopic(topic); err != nil {
		return err
	}
	if len(data) == 0 || len(data) > g.cfg.Gossip.MaxMessageBytes {
		return fmt.Errorf("publishing %d bytes on %q: %w (limit %d)", len(data), topic, ErrOversized, g.cfg.Gossip.MaxMessageBytes)
	}
	g.mu.Lock()
	jt, err := g.join(topic)
	g.mu.Unlock()
	if err != nil {
		return err
	}
	if err := jt.topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("publishing on %q: %w", topic, err)
	}
	return nil
}

func (g *gossip) subscribe(topic string) (*Subscription, error) {
	if err := g.checkTopic(topic); err != nil {
		return nil, err
	}
	s, err := g.addSubscriber(topic)
	if err == nil && g.onSubscribe != nil {
		g.onSubscribe(topic)
	}
	return s, err
}

func (g *gossip) addSubscriber(topic string) (*Subscription, error) {
	if g.ctx.Err() != nil {
		return nil, errors.New("subscribing: overlay closed")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	jt, err := g.join(topic)
	if err != nil {
		return nil, err
	}
	if jt.sub == nil {
		sub, err := jt.topic.Subscribe(pubsub.WithBufferSize(g.cfg.Gossip.SubscriptionBuffer))
		if err != nil {
			return nil, fmt.Errorf("subscribing to %q: %w", topic, err)
		}
		jt.sub = sub
		g.wg.Add(1)
		go g.pump(topic, sub)
	}
	s := newSubscription(topic, g.cfg.Gossip.SubscriptionBuffer, g.unsubscribe)
	jt.subscribers = append(jt.subscribers, s)
	return s, nil
}

// pump hands a pubsub subscription's messages to local subscribers.
func (g *gossip) pump(topic string, sub *pubsub.Subscription) {
	defer g.wg.Done()
	for {
		m, err := sub.Next(g.ctx)
		if err != nil {
			return
		}
		g.deliver(Message{
			Topic: topic, Data: m.Data, Hash: g.hashOf(topic, m), Verified: m.ValidatorData,
			ReceivedFrom: m.ReceivedFrom, Author: m.GetFrom(), Received: g.receivedAt(m),
		})
	}
}

// hashOf is m's ID: the one gossipsub computed with Deps.MessageID when
// m arrived, so its envelope is not parsed a second time.
func (g *gossip) hashOf(topic string, m *pubsub.Message) [32]byte {
	if len(m.ID) == len([32]byte{}) {
		return [32]byte([]byte(m.ID))
	}
	return g.msgID(topic, m.Data)
}

// receivedAt is when the router took in m's first copy, forgotten once
// asked; now if the tracer did not see it (a message published here).
func (g *gossip) receivedAt(m *pubsub.Message) time.Time {
	key := arrivalKey(m.Message.GetFrom(), m.GetSeqno())
	at, ok := g.received.Peek(key)
	if !ok {
		return time.Now()
	}
	g.received.Remove(key)
	return at
}

// seen reports whether a message with this ID was delivered already.
func (g *gossip) seen(hash [32]byte) bool { return g.delivered.Contains(hash) }

// deliver hands m to the topic's subscribers once per content hash, so an
// item that arrives by gossip and by catch-up is delivered once.
func (g *gossip) deliver(m Message) {
	if present, _ := g.delivered.ContainsOrAdd(m.Hash, struct{}{}); present {
		return
	}
	g.mu.Lock()
	var subs []*Subscription
	if jt, ok := g.topics[m.Topic]; ok {
		subs = append(subs, jt.subscribers...)
	}
	g.mu.Unlock()
	g.stats.delivered.Add(1)
	for _, s := range subs {
		s.deliver(g.ctx, m)
	}
}

func (g *gossip) unsubscribe(s *Subscription) {
	g.mu.Lock()
	defer g.mu.Unlock()
	jt, ok := g.topics[s.topic]
	if !ok {
		return
	}
	for i, x := range jt.subscribers {
		if x == s {
			jt.subscribers = append(jt.subscribers[:i], jt.subscribers[i+1:]...)
			break
		}
	}
}

// close cancels pubsub subscriptions and closes local subscribers.
func (g *gossip) close() {
	g.mu.Lock()
	var subs []*Subscription
	for _, jt := range g.topics {
		if jt.sub != nil {
			jt.sub.Cancel()
		}
		subs = append(subs, jt.subscribers...)
	}
	g.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

// Subscription delivers one topic's validated messages to the node.
type Subscription struct {
	topic    string
	ch       chan Message
	done     chan struct{}
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	once     sync.Once
	onClose  func(*Subscription)
}

func newSubscription(topic string, buffer int, onClose func(*Subscription)) *Subscription {
	return &Subscription{topic: topic, ch: make(chan Message, buffer), done: make(chan struct{}), onClose: onClose}
}

// Topic is the subscribed topic.
func (s *Subscription) Topic() string { return s.topic }

// Messages delivers validated messages; it is closed by Close or when the
// overlay closes.
func (s *Subscription) Messages() <-chan Message { return s.ch }

// Next waits for the next message.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	select {
	case m, ok := <-s.ch:
		if !ok {
			return Message{}, errors.New("subscription closed")
		}
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// Close stops delivery and closes Messages.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done)
		s.mu.Unlock()
		s.inflight.Wait()
		close(s.ch)
		s.onClose(s)
	})
}

// deliver blocks until the subscriber takes m, the subscription closes or
// the overlay stops: a slow subscriber backs up into pubsub's buffer
// (SubscriptionBuffer) rather than losing messages silently here.
func (s *Subscription) deliver(ctx context.Context, m Message) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	select {
	case s.ch <- m:
	case <-s.done:
	case <-ctx.Done():
	}
}

package overlay

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// SyncProtocol is catch-up: a node asks a peer for the signed items it
// missed since its cursor into that peer's store. Gossip has no history;
// this is how a node that was offline learns what it missed. The serving
// peer need not be trusted: every item passes the same MessageValidator as
// gossip before delivery, so a peer can omit items but cannot forge them.
const SyncProtocol = protocol.ID("/patchnet/sync/1.0.0")

// SyncResult counts one catch-up with one peer.
type SyncResult struct {
	Peer     peer.ID
	Rounds   int
	Received int // items the peer sent
	Known    int // already delivered or stored: skipped unvalidated
	Accepted int // validated and delivered
	Dropped  int // refused by the validator
}

// cursor is our position in one peer's store, and when we last moved it.
type cursor struct {
	epoch, seq uint64
	at         time.Time
}

// syncer serves and runs catch-up and decides when to run it.
type syncer struct {
	host      host.Host
	cfg       Config
	store     ItemStore
	validator MessageValidator
	gossip    *gossip
	stats     *counters
	log       *slog.Logger
	ctx       context.Context
	wg        *sync.WaitGroup
	sem       chan struct{}
	mayServe  func(context.Context, peer.ID) bool // admission, in a private zone
	serveMax  int                                 // MaxSyncServeBytes; benchmarks vary it

	mu       sync.Mutex
	serving  map[peer.ID]bool // peers with a request being served
	asking   map[peer.ID]chan struct{}
	cursors  map[peer.ID]cursor
	needed   int              // peers still to catch up from in this episode
	episode  map[peer.ID]bool // peers tried in this episode
	inflight int
	gen      uint64 // counts episodes: isolation starts a new one
	meshGen  uint64 // gen+1 of the episode whose mesh catch-up ran (meshFormed)
	ready    bool   // the node subscribed to the announce topic

	caughtUp     chan struct{} // closed when the first catch-up ends well
	caughtUpOnce sync.Once
}

// newSyncer serves catch-up on h to the peers mayServe allows.
func newSyncer(ctx context.Context, wg *sync.WaitGroup, h host.Host, cfg Config, deps Deps, g *gossip, stats *counters,
	mayServe func(context.Context, peer.ID) bool) *syncer {
	s := &syncer{
		host: h, cfg: cfg, store: deps.Store, validator: deps.Validator, gossip: g, stats: stats,
		log: deps.Logger, ctx: ctx, wg: wg, sem: make(chan struct{}, MaxConcurrentSyncServes), mayServe: mayServe, serveMax: MaxSyncServeBytes,
		serving: map[peer.ID]bool{}, asking: map[peer.ID]chan struct{}{},
		cursors: map[peer.ID]cursor{}, needed: cfg.Sync.Peers, episode: map[peer.ID]bool{},
		caughtUp: make(chan struct{}),
	}
	h.SetStreamHandler(SyncProtocol, s.serve)
	h.Network().Notify(&network.NotifyBundle{DisconnectedF: s.disconnected})
	return s
}

// serve answers one catch-up request from the store. A peer gets one
// request served at a time; its request must arrive within
// SyncRequestTimeout; in a private zone only an admitted peer is served.
// Busy refusals carry busyCode so an honest asker retries.
func (s *syncer) serve(st network.Stream) {
	p := st.Conn().RemotePeer()
	if !s.claim(p) {
		s.refuse(st, busyCode, "another request from this peer is being served")
		return
	}
	// The claim is released before a busy reset goes out, so the retry it
	// prompts never finds it still held.
	release := sync.OnceFunc(func() { s.unclaim(p) })
	defer release()
	if !s.mayServe(s.ctx, p) {
		s.refuse(st, network.StreamGated, "peer not admitted to the private zone")
		return
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		release()
		s.refuse(st, busyCode, "all serve slots busy")
		return
	}
	defer st.Close()
	now := time.Now()
	_ = st.SetDeadline(now.Add(SyncTimeout))
	_ = st.SetReadDeadline(now.Add(SyncRequestTimeout))
	body, err := readFrame(bufio.NewReaderSize(st, 128), maxSyncRequestBytes)
	var req syncRequest
	if err == nil {
		req, err = decodeSyncRequest(body)
	}
	switch {
	case timedOut(err):
		release()
		s.refuse(st, busyCode, "no request within the request timeout")
		return
	case err != nil:
		s.log.Debug("refusing sync request", "peer", p, "err", err)
		st.Reset()
		return
	}
	resp, err := s.answer(req)
	if err != nil {
		s.log.Warn("serving sync request", "peer", p, "err", err)
		st.Reset()
		return
	}
	if err := writeFrame(st, encodeSyncResponse(resp)); err != nil {
		st.Reset()
	}
}

// claim marks p as being served, unless it already is.
func (s *syncer) claim(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving[p] {
		return false
	}
	s.serving[p] = true
	return true
}

func (s *syncer) unclaim(p peer.ID) {
	s.mu.Lock()
	delete(s.serving, p)
	s.mu.Unlock()
}

func (s *syncer) refuse(st network.Stream, code network.StreamErrorCode, why string) {
	s.stats.syncRefused.Add(1)
	s.log.Debug("refusing sync request", "peer", st.Conn().RemotePeer(), "reason", why)
	_ = st.ResetWithError(code)
}

func (s *syncer) answer(req syncRequest) (syncResponse, error) {
	epoch := s.store.Epoch()
	from := req.Cursor
	if req.Epoch != epoch {
		from = 0 // the asker's cursor points into another store
	}
	head, err := s.store.Head()
	if err != nil {
		return syncResponse{}, err
	}
	limit := min(req.MaxBytes, s.serveMax)
	items, err := s.store.Since(from, req.MaxItems, limit)
	if err != nil {
		return syncResponse{}, err
	}
	size := 0
	for i, it := range items { // never more than asked for, nor the serve cap
		if size += len(it.Data); size > limit {
			items = items[:i]
			break
		}
	}
	return syncResponse{Epoch: epoch, Head: head, Items: items}, nil
}

// syncWith catches up from p until its store has nothing newer for us.
func (s *syncer) syncWith(ctx context.Context, p peer.ID) (SyncResult, error) {
	res := SyncResult{Peer: p}
	unlock, err := s.lockPeer(ctx, p)
	if err != nil {
		return res, fmt.Errorf("catching up from %s: %w", p, err)
	}
	defer unlock()
	for res.Rounds < MaxSyncRounds {
		res.Rounds++
		more, err := s.round(ctx, p, &res)
		if err != nil {
			return res, fmt.Errorf("catching up from %s (round %d): %w", p, res.Rounds, err)
		}
		if !more {
			break
		}
	}
	s.caughtUpOnce.Do(func() { close(s.caughtUp) })
	return res, nil
}

// lockPeer waits until no other catch-up from p runs here (start-up,
// periodic and explicit ones may pick the same peer), since p serves one
// request of ours at a time.
func (s *syncer) lockPeer(ctx context.Context, p peer.ID) (unlock func(), err error) {
	for {
		s.mu.Lock()
		busy, ok := s.asking[p]
		if !ok {
			done := make(chan struct{})
			s.asking[p] = done
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.asking, p)
				s.mu.Unlock()
				close(done)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// round runs one request/response and delivers what validates.
func (s *syncer) round(ctx context.Context, p peer.ID, res *SyncResult) (more bool, err error) {
	s.mu.Lock()
	c := s.cursors[p]
	s.mu.Unlock()
	req := syncRequest{Epoch: c.epoch, Cursor: c.seq, MaxItems: s.cfg.Sync.MaxItems, MaxBytes: s.cfg.Sync.MaxBytes}
	resp, err := s.fetch(ctx, p, req)
	if err != nil {
		return false, err
	}
	res.Received += len(resp.Items)
	for _, it := range resp.Items {
		s.consider(ctx, p, it, res)
	}
	if len(resp.Items) == 0 {
		s.setCursor(p, cursor{epoch: resp.Epoch, seq: max(resp.Head, cursorFor(c, resp.Epoch))})
		return false, nil
	}
	last := resp.Items[len(resp.Items)-1].Seq
	s.setCursor(p, cursor{epoch: resp.Epoch, seq: last})
	return last < resp.Head, nil
}

// cursorFor is c's sequence if it belongs to epoch, else 0.
func cursorFor(c cursor, epoch uint64) uint64 {
	if c.epoch == epoch {
		return c.seq
	}
	return 0
}

// fetch runs one request/response with p. A peer that refuses the stream
// as busy (serving another request of ours, or all its slots taken) is
// asked again after a pause, within SyncTimeout.
func (s *syncer) fetch(ctx context.Context, p peer.ID, req syncRequest) (syncResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, SyncTimeout)
	defer cancel()
	pause := BusyRetry
	for {
		resp, err := s.ask(ctx, p, req)
		if !remoteBusy(err) {
			return resp, err
		}
		if !waitRetry(ctx, nil, pause) {
			return syncResponse{}, fmt.Errorf("peer stayed busy: %w", err)
		}
		pause = min(2*pause, BusyRetryMax)
	}
}

func (s *syncer) ask(ctx context.Context, p peer.ID, req syncRequest) (syncResponse, error) {
	st, err := s.host.NewStream(ctx, p, SyncProtocol)
	if err != nil {
		return syncResponse{}, fmt.Errorf("opening sync stream: %w", err)
	}
	defer st.Close()
	deadline, _ := ctx.Deadline()
	_ = st.SetDeadline(deadline)
	if err := writeFrame(st, encodeSyncRequest(req)); err != nil {
		st.Reset()
		return syncResponse{}, fmt.Errorf("sending sync request: %w", err)
	}
	_ = st.CloseWrite()
	body, err := readFrame(bufio.NewReaderSize(st, 64<<10), syncResponseLimit(req))
	if err != nil {
		st.Reset()
		return syncResponse{}, err
	}
	return decodeSyncResponse(body, req)
}

// consider validates one item as if it came by gossip on the topic its kind
// travels on and delivers it if accepted.
func (s *syncer) consider(ctx context.Context, p peer.ID, it Item, res *SyncResult) {
	if stored, err := s.store.Has(sha256.Sum256(it.Data)); err == nil && stored {
		res.Known++
		return
	}
	topic := itemTopic(s.cfg.Zone, it.Kind)
	h := s.gossip.msgID(topic, it.Data)
	if s.gossip.seen(h) {
		res.Known++
		return
	}
	got := time.Now()
	vctx, cancel := context.WithTimeout(context.WithValue(ctx, catchUpKey{}, true), ValidateTimeout)
	v, verified := s.validator.ValidateMessage(vctx, topic, p, it.Data)
	cancel()
	if v != Accept {
		res.Dropped++
		s.stats.catchUpDropped.Add(1)
		s.log.Debug("catch-up item refused", "peer", p, "kind", it.Kind, "seq", it.Seq, "verdict", v)
		return
	}
	res.Accepted++
	s.stats.catchUpAccepted.Add(1)
	s.gossip.deliver(Message{Topic: topic, Data: it.Data, Hash: h, Verified: verified, ReceivedFrom: p, CatchUp: true, Kind: it.Kind, Received: got})
}

func (s *syncer) setCursor(p peer.ID, c cursor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cursors[p]; !ok && len(s.cursors) >= MaxSyncCursors {
		for victim := range s.cursors { // forget an arbitrary peer's cursor
			delete(s.cursors, victim)
			break
		}
	}
	c.at = time.Now()
	s.cursors[p] = c
}

// admitted is called when a peer's admission settles: while this node is
// catching up (start-up, or after being cut off from every peer), it
// catches up from the first Sync.Peers peers that answer.
func (s *syncer) admitted(p peer.ID) {
	if s.ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	start := s.ready && s.needed > s.inflight && !s.episode[p]
	if start {
		s.episode[p] = true
		s.inflight++
	}
	gen := s.gen
	s.mu.Unlock()
	if !start {
		return
	}
	s.catchUpAsync(p, func(res SyncResult, err error) {
		s.endCatchUp(gen, p, err)
		s.logCatchUp("caught up", "catch-up failed", p, res, err, slog.LevelInfo)
	})
}

// catchUpAsync catches up from p in a goroutine the overlay waits for on
// close, then calls done with the outcome.
func (s *syncer) catchUpAsync(p peer.ID, done func(SyncResult, error)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		done(s.syncWith(s.ctx, p))
	}()
}

// logCatchUp logs one catch-up from p as ok or failed at level, or at
// Info whatever level says when it brought or refused items: gossip
// missed something, or a peer served what does not verify.
func (s *syncer) logCatchUp(ok, failed string, p peer.ID, res SyncResult, err error, level slog.Level) {
	if err != nil {
		s.log.Log(s.ctx, level, failed, "peer", p.String(), "err", err)
		return
	}
	if res.Accepted > 0 || res.Dropped > 0 {
		level = slog.LevelInfo
	}
	s.log.Log(s.ctx, level, ok, "peer", p.String(), "rounds", res.Rounds, "received", res.Received,
		"accepted", res.Accepted, "known", res.Known, "dropped", res.Dropped)
}

// endCatchUp counts one episode catch-up as done. A failed one leaves p
// untried, so p's next admission (after a reconnect) tries again: an
// admission that settled just as the node was cut off would otherwise mark
// p as tried in the episode meant to repair that very outage. A catch-up
// from an earlier episode counts for nothing in the current one.
func (s *syncer) endCatchUp(gen uint64, p peer.ID, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	s.inflight--
	switch {
	case err != nil:
		delete(s.episode, p)
	case s.needed > 0:
		s.needed--
	}
}

// announceSubscribed starts catch-up once the node listens on the announce
// topic: items fetched earlier would have had nobody to go to.
func (s *syncer) announceSubscribed(settled func(peer.ID) bool) {
	s.mu.Lock()
	first := !s.ready
	s.ready = true
	s.mu.Unlock()
	if !first {
		return
	}
	for _, p := range s.host.Network().Peers() {
		if settled(p) {
			s.admitted(p)
		}
	}
	// A mesh that formed before the node counted as ready got no catch-up.
	if mesh := s.gossip.mesh.list(AnnounceTopic(s.cfg.Zone)); len(mesh) > 0 {
		s.meshFormed(mesh[0])
	}
}

// disconnected starts a new catch-up episode when the last peer is gone:
// whatever was published meanwhile will not come by gossip.
func (s *syncer) disconnected(n network.Network, _ network.Conn) {
	if len(n.Peers()) > 0 {
		return
	}
	s.mu.Lock()
	s.gen++
	s.needed = s.cfg.Sync.Peers
	s.inflight = 0
	s.episode = map[peer.ID]bool{}
	s.mu.Unlock()
}

// antiEntropy catches up from one peer every Sync.Interval while the node
// runs. Episodes cover start-up and isolation; this covers what gossip lost
// while the node stayed connected (published before its mesh formed, or
// behind a partition that healed).
func (s *syncer) antiEntropy(settled func(peer.ID) bool) {
	defer s.wg.Done()
	for {
		t := time.NewTimer(jittered(time.Duration(s.cfg.Sync.Interval)))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		p, ok := s.stalest(settled)
		if !ok {
			continue
		}
		res, err := s.syncWith(s.ctx, p)
		s.logCatchUp("periodic catch-up", "periodic catch-up failed", p, res, err, slog.LevelDebug)
	}
}

// jittered is d ±25%, so a zone's nodes started together do not ask in step.
func jittered(d time.Duration) time.Duration {
	return d - d/4 + rand.N(d/2+1)
}

// stalest is the admitted peer this node caught up from longest ago (never
// counts as longest), so successive rounds walk through all neighbours.
func (s *syncer) stalest(settled func(peer.ID) bool) (peer.ID, bool) {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if !ready {
		return "", false
	}
	var peers []peer.ID
	for _, p := range s.host.Network().Peers() {
		if settled(p) { // before s.mu: admission calls into the syncer
			peers = append(peers, p)
		}
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	var best peer.ID
	var bestAt time.Time
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range peers {
		if at := s.cursors[p].at; best == "" || at.Before(bestAt) {
			best, bestAt = p, at
		}
	}
	return best, best != ""
}

// catchUpKey marks the context of a catch-up item's validation.
type catchUpKey struct{}

// IsCatchUp reports whether a validator call is for a catch-up item rather
// than a gossip message: a peer serving catch-up sends what it holds,
// much of which the node may have already, and is not to be blamed for it.
func IsCatchUp(ctx context.Context) bool {
	v, _ := ctx.Value(catchUpKey{}).(bool)
	return v
}

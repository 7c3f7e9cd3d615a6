package overlay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/patchnet/patchnet/trust"
)

// AuthProtocol is the zone admission exchange: the dialling side opens a
// stream and sends its certificate chain, the listening side answers with
// its own, and each verifies the other's through the node's Authenticator.
const AuthProtocol = protocol.ID("/patchnet/auth/1.0.0")

// ErrNotAdmitted is the reason a private zone dropped a peer.
var ErrNotAdmitted = errors.New("peer not admitted to private zone")

// errAuthDeadline is recorded for a peer that never completed the exchange.
var errAuthDeadline = fmt.Errorf("no certificate chain within the auth deadline: %w", trust.ErrUntrusted)

// PeerInfo is what admission knows about a connected peer.
type PeerInfo struct {
	ID peer.ID
	// Verified is true once the peer presented a chain the Authenticator
	// accepted (for this zone, in a private zone).
	Verified bool
	// Identity is the verified certificate identity; zero unless Verified.
	Identity trust.Identity
	// Pending is true while the exchange has not finished.
	Pending bool
	// Err says why the peer is unverified.
	Err error
}

// Role is the peer's role for display and metrics: its certificate roles,
// or "unverified".
func (pi PeerInfo) Role() string {
	if !pi.Verified {
		return "unverified"
	}
	return rolesString(pi.Identity.Roles)
}

func rolesString(roles []trust.Role) string {
	s := ""
	for i, r := range roles {
		if i > 0 {
			s += ","
		}
		s += string(r)
	}
	return s
}

// admission runs the auth exchange and keeps each connected peer's result.
type admission struct {
	host     host.Host
	cfg      Config
	deps     Deps
	gater    *gater
	stats    *counters
	log      *slog.Logger
	ctx      context.Context
	wg       *sync.WaitGroup
	sem      chan struct{}
	admitted func(peer.ID) // called once per connection episode, after settling

	mu       sync.Mutex
	peers    map[peer.ID]*peerAuth
	failures *lru.Cache[peer.ID, error] // why recent peers failed, for operators
}

type peerAuth struct {
	info      PeerInfo
	score     float64 // appScore of info, kept with it: the router asks for it per peer on every heartbeat
	chain     [][]byte
	done      chan struct{}
	initiated bool // an outbound exchange was started
	answering bool // a stream the peer opened is being answered
}

func newAdmission(ctx context.Context, wg *sync.WaitGroup, h host.Host, cfg Config, deps Deps, g *gater, stats *counters) *admission {
	a := &admission{
		host: h, cfg: cfg, deps: deps, gater: g, stats: stats, log: deps.Logger,
		ctx: ctx, wg: wg, sem: make(chan struct{}, MaxConcurrentAuth),
		admitted: func(peer.ID) {}, peers: map[peer.ID]*peerAuth{},
	}
	a.failures, _ = lru.New[peer.ID, error](RecentFailures) // size is a positive constant
	h.SetStreamHandler(AuthProtocol, a.handle)
	h.Network().Notify(&network.NotifyBundle{ConnectedF: a.connected, DisconnectedF: a.disconnected})
	return a
}

// entry returns p's record, creating a pending one.
func (a *admission) entry(p peer.ID) *peerAuth {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.peers[p]
	if !ok {
		e = &peerAuth{info: PeerInfo{ID: p, Pending: true}, done: make(chan struct{})}
		a.peers[p] = e
	}
	return e
}

func (a *admission) connected(_ network.Network, c network.Conn) {
	if a.ctx.Err() != nil {
		return // closing: start nothing new
	}
	p := c.RemotePeer()
	e := a.entry(p)
	a.mu.Lock()
	outbound := c.Stat().Direction == network.DirOutbound && !e.initiated
	e.initiated = e.initiated || outbound
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if outbound {
			a.initiate(p)
		}
		a.await(p, e)
	}()
}

// disconnected forgets a peer once its last connection closes, so the next
// connection authenticates afresh.
func (a *admission) disconnected(n network.Network, c network.Conn) {
	p := c.RemotePeer()
	if n.Connectedness(p) == network.Connected {
		return
	}
	a.mu.Lock()
	delete(a.peers, p)
	a.mu.Unlock()
	a.host.ConnManager().Unprotect(p, ProtectTag)
}

// ProtectTag is the connection manager's protection tag on verified
// supernodes and publishers of the node's zone.
const ProtectTag = "patchnet-zone-signer"

// protect keeps the connection manager from trimming a verified supernode
// or publisher of this zone: co-signatures travel on the supernodes' topic
// and a publisher learns refusals over direct streams, so under a crowd
// of agents (hundreds dialling the bootstrap nodes) these few links must
// outlive the trimming that makes room for newcomers. Nothing else rests
// on it: a protected peer still signs nothing that is not verified.
func (a *admission) protect(p peer.ID, id trust.Identity) {
	if id.Zone != a.cfg.Zone || !(id.HasRole(trust.RoleSupernode) || id.HasRole(trust.RolePublisher)) {
		return
	}
	a.host.ConnManager().Protect(p, ProtectTag)
}

// await waits for p's exchange to settle or the deadline to pass.
func (a *admission) await(p peer.ID, e *peerAuth) {
	t := time.NewTimer(time.Duration(a.cfg.AuthDeadline))
	defer t.Stop()
	select {
	case <-e.done:
	case <-t.C:
		a.settle(p, e, nil, trust.Identity{}, errAuthDeadline)
	case <-a.ctx.Done():
		return
	}
	a.admitted(p)
}

// initiate opens the exchange on an outbound connection. A remote that
// refuses the stream as busy (its slots are full, or it is still answering
// another stream of ours) is asked again after a pause, until AuthDeadline:
// only the deadline, not a busy peer, makes the exchange fail.
func (a *admission) initiate(p peer.ID) {
	ctx, cancel := context.WithTimeout(a.ctx, time.Duration(a.cfg.AuthDeadline))
	defer cancel()
	e := a.entry(p)
	pause := BusyRetry
	for {
		chain, err := a.exchange(ctx, p)
		if err == nil {
			a.verify(p, e, chain)
			return
		}
		if !remoteBusy(err) {
			a.settle(p, e, nil, trust.Identity{}, err)
			return
		}
		a.stats.authBusy.Add(1)
		if !waitRetry(ctx, e.done, pause) {
			return // settled meanwhile, or await settles at the deadline
		}
		pause = min(2*pause, BusyRetryMax)
	}
}

// exchange sends this node's chain on a new auth stream and reads p's.
func (a *admission) exchange(ctx context.Context, p peer.ID) ([][]byte, error) {
	s, err := a.host.NewStream(network.WithAllowLimitedConn(ctx, "auth"), p, AuthProtocol)
	if err != nil {
		return nil, fmt.Errorf("opening auth stream: %w", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(time.Duration(a.cfg.AuthDeadline)))
	if err := writeFrame(s, encodeChain(a.deps.Chain)); err != nil {
		s.Reset()
		return nil, fmt.Errorf("sending chain: %w", err)
	}
	chain, err := a.read(s)
	if err != nil {
		s.Reset()
	}
	return chain, err
}

// busyCode is the reset code of an auth or catch-up stream refused for
// lack of a slot, which the opener answers by asking again later. libp2p's
// resource manager refuses streams with the same code.
const busyCode = network.StreamResourceLimitExceeded

// remoteBusy reports whether err is the remote refusing a stream as busy.
func remoteBusy(err error) bool {
	var se *network.StreamError
	return errors.As(err, &se) && se.Remote && se.ErrorCode == busyCode
}

// waitRetry pauses before a retry; false means do not retry.
func waitRetry(ctx context.Context, settled <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-settled:
	case <-ctx.Done():
	}
	return false
}

// handle answers an exchange the peer opened. Each peer gets one stream
// answered at a time, and a verdict already reached stands: a peer that
// failed is refused, so neither can tie up the shared slots. A chain that
// does not arrive within AuthFirstFrameTimeout frees the slot.
func (a *admission) handle(s network.Stream) {
	p := s.Conn().RemotePeer()
	e, code, ok := a.claim(p)
	if !ok {
		_ = s.ResetWithError(code)
		return
	}
	// The claim is released before a busy reset goes out, so the peer's
	// retry, which the reset prompts, never finds it still held.
	release := sync.OnceFunc(func() { a.unclaim(e) })
	defer release()
	select {
	case a.sem <- struct{}{}:
		defer func() { <-a.sem }()
	default:
		release()
		_ = s.ResetWithError(busyCode)
		return
	}
	defer s.Close()
	now := time.Now()
	deadline := time.Duration(a.cfg.AuthDeadline)
	_ = s.SetDeadline(now.Add(deadline))
	_ = s.SetReadDeadline(now.Add(min(deadline, AuthFirstFrameTimeout)))
	chain, err := a.read(s)
	if timedOut(err) {
		// Not a verdict: the stream is refused as busy, so a peer that was
		// merely slow asks again; AuthDeadline judges the peer.
		release()
		_ = s.ResetWithError(busyCode)
		return
	}
	if err == nil {
		err = writeFrame(s, encodeChain(a.deps.Chain))
	}
	if err != nil {
		s.Reset()
		a.settle(p, e, nil, trust.Identity{}, err)
		return
	}
	a.verify(p, e, chain)
}

// timedOut reports whether err is a stream deadline passing.
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// claim reserves p's one answering slot. A peer already being answered is
// told to retry (busyCode); one that failed admission is refused for good.
// A verified peer is answered again: after a reconnect its side may have
// started afresh while this side still holds the old verdict.
func (a *admission) claim(p peer.ID) (*peerAuth, network.StreamErrorCode, bool) {
	e := a.entry(p)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case e.answering:
		return nil, busyCode, false
	case !e.info.Pending && !e.info.Verified:
		return nil, network.StreamGated, false
	}
	e.answering = true
	return e, 0, true
}

func (a *admission) unclaim(e *peerAuth) {
	a.mu.Lock()
	e.answering = false
	a.mu.Unlock()
}

func (a *admission) read(s network.Stream) ([][]byte, error) {
	body, err := readFrame(bufio.NewReaderSize(s, 4096), MaxAuthFrameBytes)
	if err != nil {
		return nil, fmt.Errorf("receiving chain: %w", err)
	}
	return decodeChain(body)
}

// verify asks the node's Authenticator and applies the zone rule.
func (a *admission) verify(p peer.ID, e *peerAuth, chain [][]byte) {
	id, err := a.check(p, chain)
	a.settle(p, e, chain, id, err)
}

func (a *admission) check(p peer.ID, chain [][]byte) (trust.Identity, error) {
	if a.deps.Authenticator == nil {
		return trust.Identity{}, errors.New("no authenticator configured")
	}
	if len(chain) == 0 {
		return trust.Identity{}, fmt.Errorf("peer presented no certificate: %w", trust.ErrUntrusted)
	}
	id, err := a.deps.Authenticator.AuthenticatePeer(p, chain)
	if err != nil {
		return trust.Identity{}, fmt.Errorf("verifying chain of %s: %w", p, err)
	}
	if id.PeerID != "" && id.PeerID != p {
		return trust.Identity{}, fmt.Errorf("verifying chain of %s: %w", p, trust.ErrPeerIDMismatch)
	}
	if a.cfg.PrivateZone.Enabled() && id.Zone != a.cfg.Zone {
		return trust.Identity{}, fmt.Errorf("verifying chain of %s: certificate of zone %q in private zone %q: %w", p, id.Zone, a.cfg.Zone, trust.ErrWrongZone)
	}
	return id, nil
}

// settle records the outcome once; in a private zone a failure drops and
// blocks the peer.
func (a *admission) settle(p peer.ID, e *peerAuth, chain [][]byte, id trust.Identity, err error) {
	a.mu.Lock()
	first := e.info.Pending
	if first {
		e.set(PeerInfo{ID: p, Verified: err == nil, Identity: id, Err: err}, a.cfg.Zone)
		e.chain = chain
		close(e.done)
	}
	// A peer that left before its exchange ended is not judged: it may
	// just have been trimmed by the connection manager.
	current := a.peers[p] == e
	a.mu.Unlock()
	if !first || !current {
		return
	}
	if err == nil {
		a.stats.authVerified.Add(1)
		a.log.Debug("peer verified", "peer", p, "zone", id.Zone, "roles", rolesString(id.Roles))
		a.protect(p, id)
		return
	}
	if chain == nil && a.host.Network().Connectedness(p) != network.Connected {
		// The exchange broke with its connection (trimmed, closed by a
		// resource limit, reset) before the disconnect was processed: no
		// chain was judged and the disconnect forgets the peer. Counted,
		// a 600-agent zone's churn showed as 167 of its 272 failed
		// admissions. A chain that failed its checks is judged below even
		// if its peer hung up at once.
		return
	}
	a.stats.authFailed.Add(1)
	a.reject(p, err)
}

func (a *admission) reject(p peer.ID, err error) {
	a.failures.Add(p, err)
	if !a.cfg.PrivateZone.Enabled() {
		// A public zone keeps it: it relays, but never counts as a signer.
		a.log.Info("peer unverified", "peer", p.String(), "err", err)
		return
	}
	a.log.Warn("dropping peer from private zone", "peer", p.String(), "zone", a.cfg.Zone, "err", err)
	a.gater.block(p)
	_ = a.host.Network().ClosePeer(p)
}

// info returns p's admission record.
func (a *admission) info(p peer.ID) (PeerInfo, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.peers[p]
	if !ok {
		return PeerInfo{}, false
	}
	return e.info, true
}

// appScore is p's application score (appScore of its admission), without
// copying its PeerInfo: gossipsub asks for it for every peer on every
// heartbeat.
func (a *admission) appScore(p peer.ID) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.peers[p]; ok {
		return e.score
	}
	return 0
}

// set records the exchange's outcome and the score it earns in zone;
// the admission's lock is held.
func (e *peerAuth) set(info PeerInfo, zone string) {
	e.info = info
	e.score = appScore(info, true, zone)
}

// failure is why p last failed admission, or nil.
func (a *admission) failure(p peer.ID) error {
	err, _ := a.failures.Get(p)
	return err
}

// settled reports whether p's exchange has finished, either way.
func (a *admission) settled(p peer.ID) bool {
	info, ok := a.info(p)
	return ok && !info.Pending
}

// all returns every connected peer's record.
func (a *admission) all() []PeerInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]PeerInfo, 0, len(a.peers))
	for _, e := range a.peers {
		out = append(out, e.info)
	}
	return out
}

// reauthenticate re-verifies every verified peer's stored chain, after the
// node learned a new CRL; in a private zone newly revoked peers are dropped.
// It returns how many peers lost their verified status.
func (a *admission) reauthenticate() int {
	a.mu.Lock()
	var recheck []*peerAuth
	for _, e := range a.peers {
		if e.info.Verified {
			recheck = append(recheck, e)
		}
	}
	a.mu.Unlock()
	failed := 0
	for _, e := range recheck {
		if _, err := a.check(e.info.ID, e.chain); err != nil {
			a.mu.Lock()
			e.set(PeerInfo{ID: e.info.ID, Err: err}, a.cfg.Zone)
			a.mu.Unlock()
			a.stats.authFailed.Add(1)
			a.reject(e.info.ID, err)
			failed++
		}
	}
	return failed
}

// waitVerified waits for p's exchange to settle, at most AuthDeadline, and
// reports whether p was verified. A peer with no record (not connected) is
// not.
func (a *admission) waitVerified(ctx context.Context, p peer.ID) bool {
	a.mu.Lock()
	e, ok := a.peers[p]
	a.mu.Unlock()
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(a.cfg.AuthDeadline))
	defer cancel()
	select {
	case <-e.done:
	case <-ctx.Done():
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return e.info.Verified
}

package k8s

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/testnet/rawgossip"
)

// The raw gossipsub baseline of a rendered zone, as netns runs it with a
// raw-gossip process beside each node: a container in each supernode and
// agent pod (`patchnet testnet raw-baseline`) starts a plain gossipsub
// peer (testnet/rawgossip) and, once its agent installed the fix (a
// supernode's at once), registers its address and its node's peer ID at
// the vendor origin. When every peer registered (or RawWait after the
// first) and the HTTP baseline, if any, is done, the origin says so; each
// peer then dials the raw peers of the nodes its own node is connected to
// (same topology), and the origin's own raw peer, standing for the
// publisher, dials the supernodes'. The peers post their counts and
// deliveries every RawReportInterval; the origin runs the rounds
// (rawgossip.Run) through them and keeps the outcome, which collect
// reads. Each peer measures the origin's clock around its reports (the
// answer's Now against the post's round trip, as collect measures a
// node's) and reports its deliveries on the origin's clock, so a pod's
// clock offset does not enter the delivery times.
const (
	// RawPath answers GET with the baseline's RawState.
	RawPath = "/.patchnet/raw"
	// rawRegisterPath takes a RawPeer (POST).
	rawRegisterPath = RawPath + "/register"
	// rawPeersPath answers GET with every RawPeer once the baseline
	// started, 503 before.
	rawPeersPath = RawPath + "/peers"
	// rawReportPath takes a RawReport (POST) and answers RawAnswer.
	rawReportPath = RawPath + "/report"
)

// RawPeer is one raw peer's registration.
type RawPeer struct {
	// Name is the peer's pod.
	Name string `json:"name"`
	// Supernode is true for a supernode's pod, false for an agent's.
	Supernode bool `json:"supernode,omitempty"`
	// NodeID is the peer ID of the patchnet node beside it.
	NodeID string `json:"node_id"`
	// Addrs are the raw peer's multiaddrs, each ending in /p2p/ID.
	Addrs []string `json:"addrs"`
	// MessageBytes is the size of the announcement its node accepted (an
	// agent's; 0: unknown): the rounds publish a message of the median
	// size the agents registered.
	MessageBytes int `json:"message_bytes,omitempty"`
}

// RawReport is what a raw peer posts: its counts and deliveries so far.
type RawReport struct {
	Name       string `json:"name"`
	Grafts     int64  `json:"grafts"`
	Prunes     int64  `json:"prunes"`
	Duplicates int64  `json:"duplicates"`
	// Got is each round's first delivery, unix nanoseconds on the
	// origin's clock: the peer's own, moved by the offset it measured.
	Got map[int64]int64 `json:"got,omitempty"`
}

// RawAnswer is the origin's answer to a report.
type RawAnswer struct {
	// Done: the baseline is over, the peer may stop reporting.
	Done bool `json:"done"`
	// Now is the origin's clock as it answered: the peer measures its
	// clock's offset from it.
	Now time.Time `json:"now"`
}

// RawState is what the origin knows of the raw baseline.
type RawState struct {
	// Expected is how many peers it waits for (0: no raw baseline).
	Expected int `json:"expected"`
	// Registered is how many came.
	Registered int `json:"registered"`
	// Agents is how many of them are agents' peers.
	Agents int `json:"agents"`
	// Started is when the origin let the peers connect (zero: not yet).
	Started time.Time `json:"started,omitzero"`
	// MessageBytes is the size of the rounds' messages, once started.
	MessageBytes int `json:"message_bytes,omitempty"`
	// Done: the rounds are over (or failed: Error).
	Done bool `json:"done"`
	// Error says why the baseline failed ("": it did not).
	Error string `json:"error,omitempty"`
	// Outcome is the rounds' outcome once Done without an Error.
	Outcome *rawgossip.Outcome `json:"outcome,omitempty"`
}

// rawRun is the origin's side of the raw baseline.
type rawRun struct {
	expected int
	wait     time.Duration
	peer     *rawgossip.Peer
	// ready, when set, says whether what must run first (the HTTP
	// baseline) is done.
	ready func() bool

	mu      sync.Mutex
	peers   map[string]RawPeer
	members map[string]*reportedMember
	first   time.Time
	state   RawState
}

// ExpectRaw makes the origin run the raw gossipsub baseline for peers
// raw peers (the zone's supernodes and agents): its own peer starts now,
// and the rounds once all registered (or RawWait after the first did)
// and the HTTP baseline, if the origin runs one, is done (so call it
// after ExpectBaseline). It runs until ctx ends.
func (o *Origin) ExpectRaw(ctx context.Context, peers int) error {
	if peers < 1 || peers > MaxAgents+MaxSupernodes {
		return fmt.Errorf("raw baseline: %d peers: want 1..%d", peers, MaxAgents+MaxSupernodes)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0"),
		libp2p.ResourceManager(&lpnet.NullResourceManager{}), libp2p.DisableMetrics())
	if err != nil {
		return fmt.Errorf("raw baseline: starting the origin's host: %w", err)
	}
	p, err := rawgossip.New(ctx, h)
	if err != nil {
		h.Close()
		return fmt.Errorf("raw baseline: %w", err)
	}
	r := &rawRun{expected: peers, wait: RawWait, peer: p, peers: map[string]RawPeer{}, members: map[string]*reportedMember{},
		state: RawState{Expected: peers}}
	if b := o.baseline; b != nil {
		r.ready = func() bool { return b.state().Done() }
	}
	o.raw = r
	go func() {
		defer h.Close()
		r.run(ctx)
	}()
	return nil
}

// serveRaw answers the raw baseline's paths.
func (o *Origin) serveRaw(w http.ResponseWriter, r *http.Request) {
	run := o.raw
	if run == nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case r.URL.Path == RawPath && r.Method == http.MethodGet:
		writeJSON(w, run.snapshot())
	case r.URL.Path == rawPeersPath && r.Method == http.MethodGet:
		run.servePeers(w)
	case r.URL.Path == rawRegisterPath && r.Method == http.MethodPost:
		var p RawPeer
		if readJSON(w, r, &p) {
			run.register(w, p)
		}
	case r.URL.Path == rawReportPath && r.Method == http.MethodPost:
		var rep RawReport
		if readJSON(w, r, &rep) {
			run.report(w, rep)
		}
	default:
		http.Error(w, "no such raw baseline path or method", http.StatusNotFound)
	}
}

// register records a peer (again: a restarted container, the same peer
// or a new one under the same name).
func (r *rawRun) register(w http.ResponseWriter, p RawPeer) {
	if err := p.validate(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.peers[p.Name]; !ok && len(r.peers) == r.expected {
		http.Error(w, fmt.Sprintf("raw baseline: %d peers registered already, %q is one too many", r.expected, p.Name), http.StatusConflict)
		return
	}
	if r.first.IsZero() {
		r.first = time.Now()
	}
	r.peers[p.Name] = p
	if r.members[p.Name] == nil {
		r.members[p.Name] = &reportedMember{}
	}
	w.WriteHeader(http.StatusNoContent)
}

// validate checks a registration's fields.
func (p RawPeer) validate() error {
	if p.Name == "" || len(p.Name) > maxBaselineName {
		return fmt.Errorf("raw baseline: peer name %q: want 1..%d bytes", p.Name, maxBaselineName)
	}
	if _, err := peer.Decode(p.NodeID); err != nil {
		return fmt.Errorf("raw baseline: %s: node ID %q: %w", p.Name, p.NodeID, err)
	}
	if p.MessageBytes < 0 || p.MessageBytes > rawgossip.MaxMessageBytes {
		return fmt.Errorf("raw baseline: %s: message of %d bytes: want 0..%d", p.Name, p.MessageBytes, rawgossip.MaxMessageBytes)
	}
	if len(p.Addrs) == 0 || len(p.Addrs) > maxRawAddrs {
		return fmt.Errorf("raw baseline: %s: %d addresses: want 1..%d", p.Name, len(p.Addrs), maxRawAddrs)
	}
	for _, a := range p.Addrs {
		if _, err := peer.AddrInfoFromString(a); err != nil {
			return fmt.Errorf("raw baseline: %s: address %q: %w", p.Name, a, err)
		}
	}
	return nil
}

// report records a registered peer's counts and deliveries.
func (r *rawRun) report(w http.ResponseWriter, rep RawReport) {
	r.mu.Lock()
	m := r.members[rep.Name]
	done := r.state.Done
	r.mu.Unlock()
	if m == nil {
		http.Error(w, fmt.Sprintf("raw baseline: report of %q, which never registered", rep.Name), http.StatusConflict)
		return
	}
	m.set(rep)
	writeJSON(w, RawAnswer{Done: done, Now: time.Now()})
}

// servePeers answers every registration once the baseline started.
func (r *rawRun) servePeers(w http.ResponseWriter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.Started.IsZero() {
		http.Error(w, fmt.Sprintf("raw baseline: not started (%d of %d peers registered)", len(r.peers), r.expected), http.StatusServiceUnavailable)
		return
	}
	out := make([]RawPeer, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b RawPeer) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, out)
}

// snapshot is the baseline's RawState.
func (r *rawRun) snapshot() RawState {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.state
	s.Registered = len(r.peers)
	s.Agents = 0
	for _, p := range r.peers {
		if !p.Supernode {
			s.Agents++
		}
	}
	return s
}

// run waits for the peers and what runs first, starts the baseline and
// keeps its outcome.
func (r *rawRun) run(ctx context.Context) {
	rawgossip.WaitUntil(ctx, 1<<62, r.startable)
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	r.state.Started = time.Now()
	r.mu.Unlock()
	out, err := r.rounds(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state.Done = true
	if err != nil {
		r.state.Error = err.Error()
		return
	}
	r.state.Outcome = &out
}

// startable reports whether every peer registered (or RawWait passed
// since the first) and what must run first is done.
func (r *rawRun) startable() bool {
	r.mu.Lock()
	n, first := len(r.peers), r.first
	r.mu.Unlock()
	all := n == r.expected || (!first.IsZero() && time.Since(first) >= r.wait)
	return all && (r.ready == nil || r.ready())
}

// rounds connects the origin's peer to the supernodes' and runs the
// rounds through every registered peer's reports.
func (r *rawRun) rounds(ctx context.Context) (rawgossip.Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, RawTimeout)
	defer cancel()
	all := []rawgossip.Member{r.peer}
	var agents []rawgossip.Member
	r.mu.Lock()
	peers := slices.Collect(maps.Values(r.peers))
	size := messageBytes(peers)
	r.state.MessageBytes = size
	for _, p := range peers {
		all = append(all, r.members[p.Name])
		if !p.Supernode {
			agents = append(agents, r.members[p.Name])
		}
	}
	r.mu.Unlock()
	for _, p := range peers {
		if p.Supernode {
			if err := dialRaw(ctx, r.peer, p); err != nil {
				return rawgossip.Outcome{}, err
			}
		}
	}
	if !rawgossip.WaitMeshes(ctx, all, RawTimeout) {
		return rawgossip.Outcome{}, fmt.Errorf("raw baseline: meshes not formed within %v", RawTimeout)
	}
	return rawgossip.Run(ctx, r.peer, all, agents, size, RawTimeout, func(string, int, int) {})
}

// messageBytes is the median announcement size the peers registered, as
// the sim's and netns's rounds carry the announcement's size, or
// rawgossip.MessageBytes when none did.
func messageBytes(peers []RawPeer) int {
	sizes := make([]int64, len(peers))
	for i, p := range peers {
		sizes[i] = int64(p.MessageBytes)
	}
	return cmp.Or(int(medianSize(sizes)), rawgossip.MessageBytes)
}

// dialRaw connects p's host to the raw peer registered as to.
func dialRaw(ctx context.Context, p *rawgossip.Peer, to RawPeer) error {
	var ai peer.AddrInfo
	for _, a := range to.Addrs {
		one, err := peer.AddrInfoFromString(a)
		if err != nil {
			return fmt.Errorf("raw baseline: %s: %w", to.Name, err)
		}
		ai.ID, ai.Addrs = one.ID, append(ai.Addrs, one.Addrs...)
	}
	if err := rawgossip.Dial(ctx, p.Host(), ai); err != nil {
		return fmt.Errorf("raw baseline: %s: %w", to.Name, err)
	}
	return nil
}

// reportedMember is a raw peer as its last report says: a
// rawgossip.Member for the origin's rounds.
type reportedMember struct {
	mu   sync.Mutex
	last RawReport
}

func (m *reportedMember) set(r RawReport) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = r
}

func (m *reportedMember) Grafts() int64     { return m.read().Grafts }
func (m *reportedMember) Prunes() int64     { return m.read().Prunes }
func (m *reportedMember) Duplicates() int64 { return m.read().Duplicates }

func (m *reportedMember) Got(round int64) (time.Time, bool) {
	at, ok := m.read().Got[round]
	if !ok || at <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}

func (m *reportedMember) read() RawReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// readJSON decodes a posted body of at most maxRawBody into v, answering
// 400 and reporting false when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRawBody+1))
	if err == nil && len(body) > maxRawBody {
		err = fmt.Errorf("longer than %d bytes", maxRawBody)
	}
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("raw baseline: reading %s: %v", r.URL.Path, err), http.StatusBadRequest)
		return false
	}
	return true
}

// writeJSON answers v.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// FetchRaw reads the origin's RawState; an origin without a raw
// baseline gives the zero state.
func FetchRaw(ctx context.Context, originURL string) (RawState, error) {
	ctx, cancel := context.WithTimeout(ctx, CollectTimeout)
	defer cancel()
	var s RawState
	code, err := getJSON(ctx, strings.TrimSuffix(originURL, "/")+RawPath, &s)
	if code == http.StatusNotFound {
		return RawState{}, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading the raw gossipsub baseline: %w", err)
	}
	return s, nil
}

// WaitRaw polls the origin until its raw baseline is done or ctx ends,
// telling progress what it read; an origin without one returns at once
// (Expected 0). A baseline that failed is an error saying why.
func WaitRaw(ctx context.Context, originURL string, progress func(RawState)) (RawState, error) {
	s, err := pollOrigin(ctx, func(ctx context.Context) (RawState, error) { return FetchRaw(ctx, originURL) },
		func(s RawState) bool { return s.Expected == 0 || s.Done }, progress)
	switch {
	case err != nil && errors.Is(err, ctx.Err()):
		return s, fmt.Errorf("waiting for the raw gossipsub baseline (%d of %d peers registered, started %v): %w",
			s.Registered, s.Expected, !s.Started.IsZero(), err)
	case err == nil && s.Error != "":
		return s, errors.New(s.Error)
	}
	return s, err
}

package node

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// HeartbeatPayloadType is the DSSE payload type of a zone heartbeat.
const HeartbeatPayloadType = "application/vnd.patchnet.heartbeat+json"

// Heartbeat is what a supernode signs every heartbeat interval: the time,
// a sequence number, and a digest of the set of (id, highest version) it
// co-signed. Gossip has no history, so without it an agent cannot tell
// "no news" from "cut off", nor notice one announcement withheld from it.
type Heartbeat struct {
	Zone   string    `json:"zone"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Count  int       `json:"count"`  // how many ids the digest covers
	Digest string    `json:"digest"` // SetDigest of the co-signed (id, version) set
	// Addrs are where the supernode listens (multiaddrs without its peer
	// id, at most MaxHeartbeatAddrs). Agents fetch an artifact from its
	// co-signers first; with these they dial a co-signer they are not
	// connected to without asking a peer where it is, which the busiest
	// supernode (everyone's bootstrap and DHT peer) may be too loaded to
	// answer.
	Addrs []string `json:"addrs,omitempty"`
}

// SetDigest is the digest of a set of (id, highest version): SHA-256 over
// the sorted lines "id version\n". Supernodes compute it over what they
// co-signed, agents over what they accepted; in a healthy zone they agree.
func SetDigest(set map[string]uint64) (string, int) {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s %d\n", id, set[id])
	}
	return hex.EncodeToString(h.Sum(nil)), len(ids)
}

// beat is the newest heartbeat verified from one supernode.
type beat struct {
	from     trust.Identity
	hb       Heartbeat
	received time.Time
}

// heartbeats keeps the newest heartbeat of each supernode and the state of
// the agent's alarms, so each is reported once when it starts and ends.
type heartbeats struct {
	mu       sync.Mutex
	since    time.Time // when watching began: no alarm before a full max age
	beats    map[peer.ID]beat
	stale    bool // fewer than k fresh heartbeats
	mismatch bool // k agree on a set this agent lacks
}

func newHeartbeats(now time.Time) *heartbeats {
	return &heartbeats{beats: map[peer.ID]beat{}, since: now}
}

// verifiedHeartbeat is what the validator makes of a heartbeat: the beat
// it recorded and the addresses parsed from it.
type verifiedHeartbeat struct {
	beat
	addrs []ma.Multiaddr
}

// onHeartbeat acts on a heartbeat the validator verified and recorded
// (m.Verified): it keeps the supernode's addresses.
func (n *Node) onHeartbeat(m overlay.Message) {
	if vh, ok := m.Verified.(*verifiedHeartbeat); ok {
		n.learnAddrs(vh.from, vh.addrs)
	}
}

// validateHeartbeat accepts a heartbeat signed by a supernode of this zone,
// newer (by sequence) than the last one from it, not from the future and
// not older than the maximum age: forged or malformed → Reject; old,
// replayed or from a node that is no supernode of ours → Ignore.
func (n *Node) validateHeartbeat(data []byte) (overlay.Verdict, any) {
	env, err := trust.ParseEnvelope(data)
	if err != nil || env.PayloadType != HeartbeatPayloadType || len(env.Signatures) != 1 || len(env.Payload) > MaxHeartbeatBytes {
		return overlay.Reject, nil
	}
	id, err := n.signerOf(env, env.Signatures[0])
	if err != nil {
		return verdictOf(err), nil
	}
	if !id.Holds(trust.RoleSupernode, n.zone) {
		return overlay.Reject, nil
	}
	var hb Heartbeat
	dec := json.NewDecoder(bytes.NewReader(env.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hb); err != nil || hb.Zone != n.zone.Name || len(hb.Digest) != 2*sha256.Size {
		return overlay.Reject, nil
	}
	addrs, err := parseHeartbeatAddrs(hb.Addrs)
	if err != nil {
		return overlay.Reject, nil
	}
	now := n.verifier.Now()
	if hb.Time.After(now.Add(updates.MaxClockSkew)) || now.Sub(hb.Time) > n.heartbeatMaxAge() {
		return overlay.Ignore, nil
	}
	b := beat{from: id, hb: hb, received: now}
	if !n.beats.record(b) {
		return overlay.Ignore, nil
	}
	return overlay.Accept, &verifiedHeartbeat{beat: b, addrs: addrs}
}

// parseHeartbeatAddrs parses a heartbeat's addresses: at most
// MaxHeartbeatAddrs multiaddrs, none naming a peer (the signer's
// certificate says whose they are).
func parseHeartbeatAddrs(in []string) ([]ma.Multiaddr, error) {
	if len(in) > MaxHeartbeatAddrs {
		return nil, fmt.Errorf("%d addresses: want at most %d", len(in), MaxHeartbeatAddrs)
	}
	out := make([]ma.Multiaddr, 0, len(in))
	for _, s := range in {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("parsing address %.80q: %w", s, err)
		}
		if namesPeer(a) {
			return nil, fmt.Errorf("address %.80q names a peer", s)
		}
		out = append(out, a)
	}
	return out, nil
}

// namesPeer reports whether a carries a peer id, which a heartbeat's
// addresses must not: the signer's certificate says whose they are.
func namesPeer(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_P2P)
	return err == nil
}

// learnAddrs keeps a verified supernode's addresses from its heartbeat in
// the peerstore for as long as a heartbeat counts as fresh, so dialling
// it as a seed needs no lookup; later heartbeats renew them. A supernode
// could name addresses that are not its own: a dial there fails the
// handshake, which checks the peer id its certificate binds.
func (n *Node) learnAddrs(from trust.Identity, addrs []ma.Multiaddr) {
	if len(addrs) == 0 || from.PeerID == n.ID() {
		return
	}
	n.ov.Host().Peerstore().AddAddrs(from.PeerID, addrs, n.heartbeatMaxAge())
}

// heartbeatAddrs are the addresses this supernode's heartbeat names: its
// host's direct ones (a relayed address names the relay, which receivers
// refuse), loopback ones left out unless it has no other (a zone on one
// machine), at most MaxHeartbeatAddrs and MaxHeartbeatAddrBytes of text,
// so that an honest heartbeat always passes its receivers' checks.
func heartbeatAddrs(have []ma.Multiaddr) []string {
	var out, loop []string
	for _, a := range have {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil || namesPeer(a) {
			continue
		}
		if manet.IsIPLoopback(a) {
			loop = append(loop, a.String())
		} else {
			out = append(out, a.String())
		}
	}
	if len(out) == 0 {
		out = loop
	}
	size := 0
	for i, a := range out {
		if size += len(a); i == MaxHeartbeatAddrs || size > MaxHeartbeatAddrBytes {
			return out[:i]
		}
	}
	return out
}

// record keeps b unless a heartbeat with its sequence or a later one from
// the same supernode is kept already (a replay).
func (h *heartbeats) record(b beat) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.beats[b.from.PeerID]; ok && old.hb.Seq >= b.hb.Seq {
		return false
	}
	h.beats[b.from.PeerID] = b
	return true
}

// fresh returns the heartbeats received within maxAge of now, newest first.
func (h *heartbeats) fresh(now time.Time, maxAge time.Duration) []beat {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []beat
	for _, b := range h.beats {
		if now.Sub(b.hb.Time) <= maxAge {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b beat) int { return b.hb.Time.Compare(a.hb.Time) })
	return out
}

// heartbeatMaxAge is how old the k-th freshest heartbeat may be before an
// agent says it is cut off.
func (n *Node) heartbeatMaxAge() time.Duration {
	return time.Duration(n.cfg.Heartbeat.MaxAge)
}

// heartbeatLoop runs a supernode's heartbeat (publish every interval) and
// an agent's watch (check every interval), until ctx ends.
func (n *Node) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(time.Duration(n.cfg.Heartbeat.Interval))
	defer t.Stop()
	var seq uint64
	for {
		if n.cosigner != nil {
			seq++
			if err := n.sendHeartbeat(ctx, seq); err != nil && ctx.Err() == nil {
				n.log.Warn("sending heartbeat", "err", err)
			}
		}
		if n.agent != nil {
			n.checkHeartbeats(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sendHeartbeat signs and publishes this supernode's heartbeat. The
// sequence starts from the clock, so a restarted supernode's heartbeats are
// not taken for replays of its earlier ones.
func (n *Node) sendHeartbeat(ctx context.Context, seq uint64) error {
	set, err := n.cosigner.records.coSigned()
	if err != nil {
		return err
	}
	digest, count := SetDigest(set)
	now := n.verifier.Now()
	hb := Heartbeat{Zone: n.zone.Name, Seq: uint64(now.UnixNano()) + seq, Time: now, Count: count, Digest: digest,
		Addrs: heartbeatAddrs(n.ov.Host().Addrs())}
	payload, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	env := trust.NewEnvelope(HeartbeatPayloadType, payload)
	if err := n.creds.Sign(env); err != nil {
		return fmt.Errorf("signing heartbeat: %w", err)
	}
	raw, err := env.Marshal()
	if err != nil {
		return err
	}
	return n.ov.Publish(ctx, n.ov.HeartbeatTopic(), raw)
}

// checkHeartbeats raises (once) and clears the agent's two alarms: fewer
// than k supernodes' heartbeats fresh (cut off, or the zone frozen), and k
// supernodes agreeing on a co-signed set that differs from what this agent
// accepted (an announcement withheld from it). Either starts catch-up from
// several peers; a stale one also redials the bootstrap peers.
func (n *Node) checkHeartbeats(ctx context.Context) {
	now := n.verifier.Now()
	fresh := n.beats.fresh(now, n.heartbeatMaxAge())
	stale := len(fresh) < n.cfg.Threshold && now.Sub(n.beats.since) > n.heartbeatMaxAge()
	if n.beats.setStale(stale) {
		if stale {
			n.emit(Event{Kind: EventHeartbeatStale, Detail: fmt.Sprintf(
				"heartbeats from %d of the %d supernodes needed within %v: cut off, or the zone is frozen; catching up",
				len(fresh), n.cfg.Threshold, n.heartbeatMaxAge())})
		} else {
			n.emit(Event{Kind: EventHeartbeatOK, Reason: alarmStale, Detail: fmt.Sprintf("heartbeats from %d supernodes again", len(fresh))})
		}
	}
	if stale {
		// The peers it has may all be on its side of a partition: reach
		// for the bootstrap peers too, or the sides stay apart after the
		// link comes back.
		if n.ov != nil {
			n.ov.RedialBootstrap()
		}
		n.catchUpFromSeveral(ctx)
		return
	}
	n.compareSets(ctx, fresh)
}

// compareSets checks the agent's accepted set against the set k fresh
// heartbeats agree on. A first difference only starts catch-up (the
// heartbeat may have overtaken gossip); one that persists at the next
// check is reported.
func (n *Node) compareSets(ctx context.Context, fresh []beat) {
	agreed, count := agreedDigest(fresh, n.cfg.Threshold)
	if agreed == "" {
		return
	}
	set, err := n.acceptedSet()
	if err != nil {
		n.log.Warn("reading accepted updates", "err", err)
		return
	}
	own, ownCount := SetDigest(set)
	differs := own != agreed
	was := n.beats.setMismatch(differs)
	switch {
	case differs && was:
		n.emit(Event{Kind: EventHeartbeatMismatch, Detail: fmt.Sprintf(
			"%d supernodes co-signed a set of %d updates; this agent accepted %d, and catch-up did not close the gap: an announcement is withheld from it",
			n.cfg.Threshold, count, ownCount)})
	case !differs && was:
		n.emit(Event{Kind: EventHeartbeatOK, Reason: alarmMismatch, Detail: "accepted updates agree with the supernodes' heartbeats again"})
	}
	if differs {
		n.catchUpFromSeveral(ctx)
	}
}

// agreedDigest is the digest at least k of the fresh heartbeats carry, and
// its set size; "" if none reaches k.
func agreedDigest(fresh []beat, k int) (string, int) {
	votes := map[string]int{}
	count := map[string]int{}
	for _, b := range fresh {
		votes[b.hb.Digest]++
		count[b.hb.Digest] = b.hb.Count
	}
	best := ""
	for d, v := range votes {
		if v >= k && (best == "" || v > votes[best] || v == votes[best] && d < best) {
			best = d
		}
	}
	return best, count[best]
}

// setStale records the stale alarm and reports whether it changed.
func (h *heartbeats) setStale(stale bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := h.stale != stale
	h.stale = stale
	return changed
}

// setMismatch records the mismatch alarm and returns its previous value.
func (h *heartbeats) setMismatch(m bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.mismatch
	h.mismatch = m
	return was
}

// acceptedSet is the (id, highest version) of every update this agent
// accepted, from its lifecycle records.
func (n *Node) acceptedSet() (map[string]uint64, error) {
	recs, err := n.agent.life.list()
	if err != nil {
		return nil, err
	}
	set := map[string]uint64{}
	for _, r := range recs {
		set[r.ID] = max(set[r.ID], r.Version)
	}
	return set, nil
}

// catchUpFromSeveral runs catch-up from up to HeartbeatCatchUpPeers
// connected peers, so one peer withholding an item cannot hide it.
func (n *Node) catchUpFromSeveral(ctx context.Context) {
	if n.ov == nil {
		return
	}
	peers := n.ov.Peers()
	slices.SortFunc(peers, func(a, b overlay.PeerInfo) int { return cmp.Compare(a.ID, b.ID) })
	for i, p := range peers {
		if i == HeartbeatCatchUpPeers {
			break
		}
		if _, err := n.ov.SyncWith(ctx, p.ID); err != nil {
			n.log.Debug("heartbeat catch-up", "peer", p.ID, "err", err)
		}
	}
}

// Heartbeats lists the newest heartbeat from each supernode, for status.
func (n *Node) Heartbeats() []Heartbeat {
	n.beats.mu.Lock()
	defer n.beats.mu.Unlock()
	out := make([]Heartbeat, 0, len(n.beats.beats))
	for _, b := range n.beats.beats {
		out = append(out, b.hb)
	}
	slices.SortFunc(out, func(a, b Heartbeat) int { return b.Time.Compare(a.Time) })
	return out
}

// coSigned is the (id, version) of everything this supernode co-signed.
func (s *cosignStore) coSigned() (map[string]uint64, error) {
	set := map[string]uint64{}
	err := eachRecord(s.db, cosignPrefix, func(key string, rec cosignRecord) error {
		id := key[len(cosignPrefix):]
		switch {
		case rec.Done:
			set[id] = rec.Version
		case rec.Prev != nil && rec.Prev.Done:
			set[id] = rec.Prev.Version // a higher version is being co-signed
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing co-signed updates: %w", err)
	}
	return set, nil
}

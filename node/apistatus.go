package node

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// The local API's answers: what /v1/status, /v1/history and
// /v1/rollback return, and how a node builds its status.

// APIError is the body of an error answer; as an error it is what an
// APIClient returns for one.
type APIError struct {
	// Status is the HTTP status of the answer (not in the body).
	Status  int    `json:"-"`
	Message string `json:"error"`
	Code    string `json:"code,omitempty"`
}

// Error is the message.
func (e *APIError) Error() string { return e.Message }

// APIStatus is the answer of GET /v1/status: a snapshot of the node.
type APIStatus struct {
	// Now is the node's clock when the snapshot was taken: ages and CRL
	// freshness are relative to it.
	Now   time.Time `json:"now"`
	ID    string    `json:"id"`
	Roles []string  `json:"roles"`
	Zone  APIZone   `json:"zone"`
	// Listen are the node's dialable overlay addresses, each ending in
	// /p2p/ID.
	Listen []string `json:"listen"`
	// Peers are the connected peers by ID, at most APIStatusPeers of
	// PeersTotal.
	Peers      []APIPeer `json:"peers"`
	PeersTotal int       `json:"peers_total"`
	// Topics are the gossip topics the node subscribes to.
	Topics []APITopic `json:"topics"`
	// Bootstrap are the configured bootstrap peers.
	Bootstrap []APIBootstrapPeer `json:"bootstrap"`
	// DHT is the zone DHT's state; nil when dht.mode is "off".
	DHT *APIDHT `json:"dht,omitempty"`
	// CRLs are the CRLs held, one per issuer.
	CRLs []APICRL `json:"crls"`
	// Updates are the agent's lifecycle records by id and version (none on
	// other nodes): every unfinished one and the most recently updated
	// final ones, at most APIStatusUpdates; UpdatesOmitted counts the final
	// ones left out.
	Updates        []APIUpdate `json:"updates"`
	UpdatesOmitted int         `json:"updates_omitted,omitempty"`
	// Pending are the verified announcements an agent holds short of k
	// co-signatures; Heartbeat what it heard of the zone's heartbeats. Both
	// absent on other nodes.
	Pending   []APIPending  `json:"pending,omitempty"`
	Fetching  []APIFetch    `json:"fetching,omitempty"`
	Heartbeat *APIHeartbeat `json:"heartbeat,omitempty"`
	// Reports are the install reports a supernode kept, per update
	// version, by id and version (report.go): the agents that opted in,
	// by outcome. None on other nodes.
	Reports []ReportSummary `json:"reports,omitempty"`
	// ReportsWaiting counts the install reports an agent keeps until a
	// supernode takes them (reportoutbox.go).
	ReportsWaiting int `json:"reports_waiting,omitempty"`
	// Conflicts are the conflicting co-signed payloads an agent holds
	// (Status.Conflicts): each one's latest alert, naming its signers.
	Conflicts []updates.Alert `json:"conflicts,omitempty"`
	// Events are the most recent events, oldest first (at most
	// APIStatusEvents); EventCounts counts every event since start by kind.
	Events      []APIEvent        `json:"events"`
	EventCounts map[EventKind]int `json:"event_counts"`
	// Overlay are the overlay's counters (overlay.Stats, its field names
	// in snake case).
	Overlay map[string]uint64 `json:"overlay"`
	// Content is what the node's content service served to peers;
	// Process what the node's process used. A harness collecting the
	// zone's nodes reads its egress, memory and CPU from them.
	Content APIContent `json:"content"`
	Process APIProcess `json:"process"`
}

// APIZone is the node's zone: its name under the root its certificate
// chains to.
type APIZone struct {
	Name string `json:"name"`
	Root string `json:"root"` // the root's SHA-256 fingerprint, hex
}

// APIPeer is one connected peer.
type APIPeer struct {
	ID string `json:"id"`
	// Role is the peer's certificate roles, "unverified" before (or
	// without) admission.
	Role  string   `json:"role"`
	Addrs []string `json:"addrs"` // the remote address of each connection
	// Score is the peer's gossip score as last snapshotted (every
	// overlay score.inspect_interval, 1 s); absent before the first snapshot
	// that saw it. Below zero the node gossips less with it; below the
	// graylist threshold it ignores the peer's messages.
	Score *float64 `json:"score,omitempty"`
}

// APITopic is one gossip topic the node subscribes to.
type APITopic struct {
	Topic string `json:"topic"`
	Mesh  int    `json:"mesh"`  // peers in this node's gossip mesh of the topic
	Peers int    `json:"peers"` // connected peers subscribed to it
}

// APIBootstrapPeer is one configured bootstrap peer.
type APIBootstrapPeer struct {
	Addr      string `json:"addr"`
	Connected bool   `json:"connected"`
}

// APIDHT is the state of the zone's DHT.
type APIDHT struct {
	Mode         string `json:"mode"`          // server or client
	RoutingTable int    `json:"routing_table"` // peers in the routing table
}

// APICRL is the CRL held for one issuer.
type APICRL struct {
	Issuer     string    `json:"issuer"`
	Number     string    `json:"number"`
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	Revoked    int       `json:"revoked"`
	// Stale is true once NextUpdate has passed at Now: signatures its
	// issuer's certificates make no longer count until a fresh one comes.
	Stale bool `json:"stale"`
}

// APIUpdate is one accepted version of an update on an agent: its
// UpdateRecord without the envelope.
type APIUpdate struct {
	ID        string         `json:"id"`
	Version   uint64         `json:"version"`
	Digest    updates.Digest `json:"digest"`
	State     State          `json:"state"`
	Final     bool           `json:"final"` // nothing more happens to it
	Detail    string         `json:"detail,omitempty"`
	Attempts  int            `json:"attempts,omitempty"`
	NotBefore time.Time      `json:"not_before,omitzero"`
	Updated   time.Time      `json:"updated"`
	// AnnouncementBytes is the size of the announcement as this node
	// accepted it, its co-signatures merged: what gossip carried.
	AnnouncementBytes int64 `json:"announcement_bytes,omitempty"`
}

// APIEvent is one event of the node (Event).
type APIEvent struct {
	Kind    EventKind `json:"kind"`
	At      time.Time `json:"at"`
	ID      string    `json:"id,omitempty"`
	Version uint64    `json:"version,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Reason is the event's reason in one stable word (a refusal's class,
	// the alarm a heartbeat-ok event clears), where it has one.
	Reason  string   `json:"reason,omitempty"`
	Source  string   `json:"source,omitempty"`
	From    []string `json:"from,omitempty"`
	Signers []string `json:"signers,omitempty"`
	// SourceBytes are a fetched event's bytes by source (peers, vendor,
	// local).
	SourceBytes map[string]int64 `json:"source_bytes,omitempty"`
	// TookMS is how long a fetched event's fetch took, in milliseconds,
	// rounded up (a fetch under a millisecond says 1, not nothing).
	TookMS int64 `json:"took_ms,omitempty"`
	// Received is when the message that brought the announcement reached
	// the node, before its checks (pending and accepted events).
	Received time.Time `json:"received,omitzero"`
}

// Arrived is when the event's announcement reached the node: Received, or
// At for an event that carries no arrival.
func (e APIEvent) Arrived() time.Time { return arrived(e.Received, e.At) }

// APIRollbackRequest is the body of POST /v1/rollback.
type APIRollbackRequest struct {
	Tx string `json:"tx"` // the transaction to roll back
}

// APIRollbackResult is the answer of POST /v1/rollback, an error or not.
type APIRollbackResult struct {
	// Root is the root the rolled-back transaction was installed into,
	// where the rollback runs.
	Root string `json:"root,omitempty"`
	// Transaction is the rollback transaction, as far as it got; nil if it
	// never started (a refusal).
	Transaction *install.Transaction `json:"transaction,omitempty"`
	// Error and Code say why the rollback failed or was refused.
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

// apiStatus takes the snapshot /v1/status answers with.
func (n *Node) apiStatus() (*APIStatus, error) {
	now := n.verifier.Now()
	n.stepMu.RLock()
	st := n.Status()
	recs, err := n.Updates()
	n.stepMu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("reading update records: %w", err)
	}
	out := &APIStatus{Now: now, ID: n.ID().String(), Roles: st.Roles,
		Zone:        APIZone{Name: n.zone.Name, Root: n.zone.Root.String()},
		Listen:      []string{},
		EventCounts: st.Count, Overlay: statsMap(n.ov.Stats()), Content: APIContent{ServedBytes: n.ServedBytes(), Pruned: n.lastPrune.Load()},
		Process: processUsage()}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	for _, a := range n.ov.Addrs() {
		out.Listen = append(out.Listen, a.String())
	}
	out.Peers, out.PeersTotal = n.apiPeers()
	for _, s := range n.subs {
		t := s.Topic()
		out.Topics = append(out.Topics, APITopic{Topic: t, Mesh: len(n.ov.MeshPeers(t)), Peers: len(n.ov.TopicPeers(t))})
	}
	out.Bootstrap = n.apiBootstrap()
	if d := n.ov.DHT(); d != nil {
		out.DHT = &APIDHT{Mode: n.cfg.Overlay.DHT.Mode, RoutingTable: d.RoutingTable().Size()}
	}
	out.CRLs = []APICRL{}
	for _, c := range n.verifier.CRLStatuses() {
		out.CRLs = append(out.CRLs, APICRL{Issuer: c.Issuer, Number: c.Number.String(), ThisUpdate: c.ThisUpdate,
			NextUpdate: c.NextUpdate, Revoked: c.Revoked, Stale: !now.Before(c.NextUpdate)})
	}
	out.Updates, out.UpdatesOmitted = apiUpdates(recs)
	out.Pending = n.apiPending(recs)
	out.Fetching = n.fetches.list()
	out.Heartbeat = n.apiHeartbeat(now)
	if out.Reports, err = n.Reports(); err != nil {
		return nil, err
	}
	out.ReportsWaiting = n.ReportsWaiting()
	out.Conflicts = st.Conflicts
	evs := st.Events
	if len(evs) > APIStatusEvents {
		evs = evs[len(evs)-APIStatusEvents:]
	}
	out.Events = make([]APIEvent, 0, len(evs))
	for _, e := range evs {
		out.Events = append(out.Events, APIEvent{Kind: e.Kind, At: e.At, ID: e.ID, Version: e.Version, Detail: e.Detail, Reason: e.Reason,
			Source: e.Source, From: peerStrings(e.From), Signers: e.Signers, SourceBytes: e.SourceBytes,
			TookMS: (e.Took + time.Millisecond - 1).Milliseconds(), Received: e.Received})
	}
	return out, nil
}

// apiPeers lists the connected peers by ID, at most APIStatusPeers, and
// counts them.
func (n *Node) apiPeers() ([]APIPeer, int) {
	nw := n.ov.Host().Network()
	ids := nw.Peers()
	slices.SortFunc(ids, func(a, b peer.ID) int { return cmp.Compare(a, b) })
	total := len(ids)
	ids = ids[:min(len(ids), APIStatusPeers)]
	out := make([]APIPeer, 0, len(ids))
	scores := n.ov.PeerScores()
	for _, p := range ids {
		ap := APIPeer{ID: p.String(), Role: "unverified", Addrs: []string{}}
		if s, ok := scores[p]; ok {
			ap.Score = &s
		}
		if pi, ok := n.ov.PeerInfo(p); ok {
			ap.Role = pi.Role()
		}
		for _, c := range nw.ConnsToPeer(p) {
			ap.Addrs = append(ap.Addrs, c.RemoteMultiaddr().String())
		}
		out = append(out, ap)
	}
	return out, total
}

// apiBootstrap lists the configured bootstrap peers and whether each is
// connected.
func (n *Node) apiBootstrap() []APIBootstrapPeer {
	out := []APIBootstrapPeer{}
	nw := n.ov.Host().Network()
	for _, s := range n.cfg.Overlay.BootstrapPeers {
		bp := APIBootstrapPeer{Addr: s}
		if ai, err := peer.AddrInfoFromString(s); err == nil {
			bp.Connected = nw.Connectedness(ai.ID) == network.Connected
		}
		out = append(out, bp)
	}
	return out
}

// apiUpdates converts lifecycle records, keeping every unfinished one and
// the most recently updated final ones up to APIStatusUpdates, in their
// order (by id and version); it returns how many it left out.
func apiUpdates(recs []UpdateRecord) ([]APIUpdate, int) {
	keep := make([]bool, len(recs))
	var final []int
	n := 0
	for i, r := range recs {
		if r.State.Final() {
			final = append(final, i)
			continue
		}
		keep[i] = true
		n++
	}
	slices.SortStableFunc(final, func(a, b int) int { return recs[b].Updated.Compare(recs[a].Updated) })
	omitted := 0
	for _, i := range final {
		if n < APIStatusUpdates {
			keep[i] = true
			n++
		} else {
			omitted++
		}
	}
	out := make([]APIUpdate, 0, n)
	for i, r := range recs {
		if keep[i] {
			out = append(out, APIUpdate{ID: r.ID, Version: r.Version, Digest: r.Digest, State: r.State, Final: r.State.Final(),
				Detail: r.Detail, Attempts: r.Attempts, NotBefore: r.NotBefore, Updated: r.Updated, AnnouncementBytes: r.EnvelopeBytes})
		}
	}
	return out, omitted
}

// statsMap is s by field name in snake case, so every counter overlay.Stats
// gains is shown without a change here.
func statsMap(s overlay.Stats) map[string]uint64 {
	v := reflect.ValueOf(s)
	out := make(map[string]uint64, v.NumField())
	for i := range v.NumField() {
		if f := v.Field(i); f.CanUint() {
			out[snakeCase(v.Type().Field(i).Name)] = f.Uint()
		}
	}
	return out
}

// snakeCase turns a Go field name into snake case: CatchUpAccepted →
// catch_up_accepted, DHTPeers → dht_peers.
func snakeCase(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			prevLower := i > 0 && !unicode.IsUpper(rs[i-1])
			nextLower := i > 0 && i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// peerStrings is ids as text.
func peerStrings(ids []peer.ID) []string {
	if len(ids) == 0 {
		return nil
	}
	out := make([]string, len(ids))
	for i, p := range ids {
		out[i] = p.String()
	}
	return out
}

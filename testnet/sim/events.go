package sim

import (
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/node"
)

// events keeps, per node, the first time of each event kind, its fetch and
// its failed attempts, fed by every node's OnEvent (which must return
// quickly).
type events struct {
	mu      sync.Mutex
	first   map[peer.ID]map[node.EventKind]time.Time
	fetched map[peer.ID]node.Event
	failed  map[peer.ID][]node.Event     // failed install attempts, in order
	signers map[peer.ID][]string         // the co-signers counted at acceptance
	order   map[node.EventKind][]peer.ID // the nodes in the order of their first event of each kind
	arrived map[peer.ID]time.Time        // when the message behind the first pending or accepted event came
	ids     map[peer.ID]map[string]bool  // the announcements each node had an event of
}

func newEvents() *events {
	return &events{first: map[peer.ID]map[node.EventKind]time.Time{}, fetched: map[peer.ID]node.Event{},
		failed: map[peer.ID][]node.Event{}, signers: map[peer.ID][]string{},
		order: map[node.EventKind][]peer.ID{}, arrived: map[peer.ID]time.Time{}, ids: map[peer.ID]map[string]bool{}}
}

func (e *events) record(ev node.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.first[ev.Node]
	if m == nil {
		m = map[node.EventKind]time.Time{}
		e.first[ev.Node] = m
	}
	if _, ok := m[ev.Kind]; !ok {
		m[ev.Kind] = ev.At
		e.order[ev.Kind] = append(e.order[ev.Kind], ev.Node)
	}
	if ev.ID != "" {
		if e.ids[ev.Node] == nil {
			e.ids[ev.Node] = map[string]bool{}
		}
		e.ids[ev.Node][ev.ID] = true
	}
	switch ev.Kind {
	case node.EventFetched:
		e.fetched[ev.Node] = ev
	case node.EventFailed:
		e.failed[ev.Node] = append(e.failed[ev.Node], ev)
	case node.EventAccepted:
		e.signers[ev.Node] = append(e.signers[ev.Node], ev.Signers...)
	}
	if ev.Kind == node.EventAccepted || ev.Kind == node.EventPending {
		if t, ok := e.arrived[ev.Node]; !ok || ev.Arrived().Before(t) {
			e.arrived[ev.Node] = ev.Arrived()
		}
	}
}

// acceptedSigners are the co-signers p counted at its acceptances.
func (e *events) acceptedSigners(p peer.ID) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.signers[p]
}

// arrival is when the message behind p's first pending or accepted event
// reached p, and whether it had one.
func (e *events) arrival(p peer.ID) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.arrived[p]
	return t, ok
}

// at is when p first had an event of kind, and whether it had one.
func (e *events) at(p peer.ID, kind node.EventKind) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.first[p][kind]
	return t, ok
}

// firsts are the nodes whose first event of kind came after the first
// from nodes' did, in order: a waiter reads only what is new since it last
// looked, not every node's events again.
func (e *events) firsts(kind node.EventKind, from int) []peer.ID {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.order[kind][min(from, len(e.order[kind])):])
}

// fetch is p's artifact fetch, if it made one.
func (e *events) fetch(p peer.ID) (node.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev, ok := e.fetched[p]
	return ev, ok
}

// failures are p's failed install attempts (a fetch that found no source,
// say, before the retry after node.DefaultFetchRetry), oldest first.
func (e *events) failures(p peer.ID) []node.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.failed[p])
}

// count is how many nodes had an event of kind.
func (e *events) count(kind node.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.order[kind])
}

// saw reports whether p had any event of the announcement id.
func (e *events) saw(p peer.ID, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ids[p][id]
}

package sim

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/node"
)

// TestEventsKeepFailedAttempts: every failed install attempt a node reports
// is kept in order, apart from other nodes', and the first time of the
// kind still counts once — what a sample's failures and first_failure
// are read from.
func TestEventsKeepFailedAttempts(t *testing.T) {
	e := newEvents()
	a, b := peer.ID("agent-a"), peer.ID("agent-b")
	at := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	for i, d := range []string{"no source delivered: retrying in 1m0s (attempt 1 of 6)", "no source delivered: retrying in 2m0s (attempt 2 of 6)"} {
		e.record(node.Event{Kind: node.EventFailed, Node: a, At: at.Add(time.Duration(i) * time.Minute), Detail: d})
	}
	e.record(node.Event{Kind: node.EventInstalled, Node: a, At: at.Add(3 * time.Minute)})
	var got []string
	for _, ev := range e.failures(a) {
		got = append(got, ev.Detail)
	}
	want := []string{"no source delivered: retrying in 1m0s (attempt 1 of 6)", "no source delivered: retrying in 2m0s (attempt 2 of 6)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("agent-a's failures (-want +got):\n%s", diff)
	}
	if f := e.failures(b); len(f) != 0 {
		t.Errorf("agent-b has failures %v, want none", f)
	}
	if first, ok := e.at(a, node.EventFailed); !ok || !first.Equal(at) || e.count(node.EventFailed) != 1 {
		t.Errorf("first failure at %v (%v), %d nodes failed: want %v, 1", first, ok, e.count(node.EventFailed), at)
	}
}

// TestEventsListFirstsInOrder: a waiter reading firsts from where it left
// off sees each node once per kind, in the order of their first events,
// and a node's later events of that kind add nothing.
func TestEventsListFirstsInOrder(t *testing.T) {
	e := newEvents()
	a, b, c := peer.ID("agent-a"), peer.ID("agent-b"), peer.ID("agent-c")
	at := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	for _, p := range []peer.ID{b, a, b} {
		e.record(node.Event{Kind: node.EventInstalled, Node: p, At: at})
	}
	e.record(node.Event{Kind: node.EventAccepted, Node: c, At: at})
	if diff := cmp.Diff([]peer.ID{b, a}, e.firsts(node.EventInstalled, 0)); diff != "" {
		t.Errorf("firsts from 0 (-want +got):\n%s", diff)
	}
	e.record(node.Event{Kind: node.EventInstalled, Node: c, At: at})
	if diff := cmp.Diff([]peer.ID{c}, e.firsts(node.EventInstalled, 2)); diff != "" {
		t.Errorf("firsts from 2 (-want +got):\n%s", diff)
	}
	if got := e.firsts(node.EventInstalled, 5); len(got) != 0 {
		t.Errorf("firsts past the end: %v", got)
	}
}

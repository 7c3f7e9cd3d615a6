package node

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/updates"
)

// EventKind names what happened on a node.
type EventKind string

// Event kinds, in the order an update normally goes through them.
const (
	EventPublished   EventKind = "published"   // a publisher sent an announcement to its supernodes
	EventCoSigned    EventKind = "co-signed"   // a supernode verified, fetched and co-signed
	EventRefused     EventKind = "refused"     // a supernode refused to co-sign (the reason says why)
	EventPending     EventKind = "pending"     // fewer than k co-signatures so far: waiting for more
	EventAccepted    EventKind = "accepted"    // the acceptance pipeline passed
	EventRejected    EventKind = "rejected"    // the acceptance pipeline failed (not for lack of co-signers)
	EventQuarantined EventKind = "quarantined" // equivocation: a conflicting co-signed payload
	EventNotApplied  EventKind = "not-applied" // accepted but not installed (no match, notify or log mode)
	EventSuperseded  EventKind = "superseded"  // not installed: a higher version of its id was accepted meanwhile
	EventScheduled   EventKind = "scheduled"   // waiting for a maintenance window or rollout slot
	EventFetched     EventKind = "fetched"     // the artifact was fetched and verified
	EventInstalled   EventKind = "installed"   // the install transaction committed
	EventWithdrawn   EventKind = "withdrawn"   // a withdrawing announcement: its pending installs were cancelled
	// EventRefusedInstall: checked again immediately before the install
	// transaction, the update no longer passes (a co-signer revoked, expired,
	// quarantined): nothing was installed.
	EventRefusedInstall EventKind = "refused-install"
	EventFailed         EventKind = "install-failed"
	// EventHeartbeatStale: fewer than k supernodes' heartbeats arrived
	// within the maximum age: this agent is cut off, or the zone frozen.
	EventHeartbeatStale EventKind = "heartbeat-stale"
	// EventHeartbeatMismatch: k supernodes' heartbeats agree on a set of
	// co-signed updates that differs from what this agent accepted, even
	// after catch-up: an announcement is withheld from it.
	EventHeartbeatMismatch EventKind = "heartbeat-mismatch"
	// EventHeartbeatOK: an alarm above ended.
	EventHeartbeatOK EventKind = "heartbeat-ok"
)

// Event is one step of one announcement on one node.
type Event struct {
	Kind    EventKind
	At      time.Time
	Node    peer.ID
	ID      string // announcement id
	Version uint64 // announcement version
	// Detail is a sentence for people: the reason, the source, the signers.
	Detail string
	// Source is where an artifact came from (fetched events): local, peers
	// or vendor.
	Source string
	// From are the peers that delivered an artifact's bytes (fetched
	// events), most bytes first.
	From []peer.ID
	// Signers are the co-signers counted (pending, accepted) or the signers
	// of the quarantined side (quarantined).
	Signers []string
	// Reason classifies why (pending, rejected, quarantined, refused
	// events) in one stable word, such as "rollback", "revoked" or
	// "insufficient-signers" (see reasonOf); Detail says it in full.
	Reason string
	// State is the lifecycle state the event moved its update to (an
	// agent's lifecycle events); empty when it moved no record.
	State State
	// Published is when the announcement was published (its modified time,
	// else its published time; accepted and lifecycle events), for delays.
	Published time.Time
	// SourceBytes are the bytes an artifact fetch got from each source
	// (fetched events): peers, vendor, local.
	SourceBytes map[string]int64
	// Took is how long the step took: a fetched event's fetch, from its
	// first request to the verified artifact.
	Took time.Duration
	// Received is when the message that brought the announcement reached
	// the node, before its checks (pending and accepted events): Received
	// to At is what the node's validation, acceptance and their queues
	// took. Zero for an acceptance no message prompted just then (a CRL
	// arriving).
	Received time.Time
}

// Arrived is when the event's announcement reached the node: Received, or
// At for an event that carries no arrival.
func (e Event) Arrived() time.Time { return arrived(e.Received, e.At) }

// arrived is received, or at when received is unset or later.
func arrived(received, at time.Time) time.Time {
	if received.IsZero() || received.After(at) {
		return at
	}
	return received
}

// tallied are the kinds of event a node has one of per agent of its
// zone and update (a supernode hears every agent's install report): they
// are counted and passed on like any, but logged apart (MaxTalliedEvents),
// so that a zone's worth of them, or an agent sending reports to be
// refused, cannot push the node's other events (a refusal to co-sign, a
// CRL applied) out of its log.
var tallied = map[EventKind]bool{EventReportReceived: true, EventReportRejected: true}

// events is a node's bounded log of events and the first time of each kind.
type events struct {
	mu      sync.Mutex
	log     []Event
	tallied []Event // the most recent of the tallied kinds
	first   map[EventKind]time.Time
	count   map[EventKind]int
	on      func(Event)
}

func newEvents(on func(Event)) *events {
	return &events{first: map[EventKind]time.Time{}, count: map[EventKind]int{}, on: on}
}

// add records e and passes it to the callback.
func (s *events) add(e Event) {
	s.mu.Lock()
	if tallied[e.Kind] {
		s.tallied = appendBounded(s.tallied, e, MaxTalliedEvents)
	} else {
		s.log = appendBounded(s.log, e, MaxEvents)
	}
	if _, ok := s.first[e.Kind]; !ok {
		s.first[e.Kind] = e.At
	}
	s.count[e.Kind]++
	on := s.on
	s.mu.Unlock()
	if on != nil {
		on(e)
	}
}

// appendBounded appends e to log, dropping the oldest past limit.
func appendBounded(log []Event, e Event, limit int) []Event {
	if len(log) == limit {
		log = append(log[:0], log[1:]...)
	}
	return append(log, e)
}

// Status is a snapshot of what a node did.
type Status struct {
	ID    peer.ID
	Roles []string
	// First is when each kind of event first happened.
	First map[EventKind]time.Time
	// Count is how many events of each kind happened.
	Count map[EventKind]int
	// Events are the most recent events, oldest first (at most
	// MaxEvents), but for the tallied kinds (install reports received or
	// refused), whose most recent are in Tallied (at most
	// MaxTalliedEvents): Count counts them all.
	Events, Tallied []Event
	// Conflicts are the conflicting co-signed payloads an agent holds, the
	// latest alert of each, oldest first (at most MaxConflictingPayloads):
	// held aside (quarantined), or contested while no side is accepted.
	Conflicts []updates.Alert
}

// Has reports whether an event of kind happened.
func (s Status) Has(kind EventKind) bool { return s.Count[kind] > 0 }

// Last returns the most recent event of kind.
func (s Status) Last(kind EventKind) (Event, bool) {
	log := s.Events
	if tallied[kind] {
		log = s.Tallied
	}
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Kind == kind {
			return log[i], true
		}
	}
	return Event{}, false
}

func (s *events) snapshot() (first map[EventKind]time.Time, count map[EventKind]int, log, tallied []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first = make(map[EventKind]time.Time, len(s.first))
	for k, v := range s.first {
		first[k] = v
	}
	count = make(map[EventKind]int, len(s.count))
	for k, v := range s.count {
		count[k] = v
	}
	return first, count, append([]Event(nil), s.log...), append([]Event(nil), s.tallied...)
}

package node

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/updates"
)

// State is where one accepted version of an update stands on an agent: the
// one record (in badger, per id and version) of whether it gets installed.
// The rollback floor is the SeenStore's; the install itself is the
// journal's; everything between acceptance and an outcome is here.
//
//	accepted ──▶ scheduled ──▶ fetching ──▶ installing ──▶ installed
//	   │             │            │  ▲           │
//	   │             │            ▼  │ (retry)   └──▶ failed | refused
//	   │             │         gave-up ──▶ accepted (restart, next copy)
//	   └─────────────┴──▶ not-applied | superseded | withdrawn | refused
//
// Any state but a final one moves to superseded, withdrawn or refused when
// a higher version, a withdrawal or an equivocation is accepted. Final
// states are installed, not-applied, superseded, withdrawn, refused and
// failed; a record in any other state is taken up again at start.
type State string

// The states of an accepted update.
const (
	StateAccepted   State = "accepted"    // passed acceptance, waiting for the installer
	StateScheduled  State = "scheduled"   // waiting for its maintenance window or rollout slot
	StateFetching   State = "fetching"    // fetching its artifact (Attempts so far)
	StateGaveUp     State = "gave-up"     // MaxFetchAttempts fetches failed: retried at start or by the next copy
	StateInstalling State = "installing"  // checked again and fetched: the journalled transaction runs
	StateInstalled  State = "installed"   // final: the transaction committed
	StateNotApplied State = "not-applied" // final: does not match, notify or log mode, already installed
	StateSuperseded State = "superseded"  // final: a higher version was accepted first
	StateWithdrawn  State = "withdrawn"   // final: withdrawn, or a withdrawal itself
	StateRefused    State = "refused"     // final: no longer passes when checked again (revoked, expired, quarantined)
	StateFailed     State = "failed"      // final: the install transaction failed (the journal says how)
)

// Final reports whether nothing more happens to an update in state s.
func (s State) Final() bool {
	switch s {
	case StateInstalled, StateNotApplied, StateSuperseded, StateWithdrawn, StateRefused, StateFailed:
		return true
	}
	return false
}

// stateOf is the state an event of kind leaves its update in ("" for
// events that are no step of the lifecycle).
var stateOf = map[EventKind]State{
	EventAccepted: StateAccepted, EventScheduled: StateScheduled, EventInstalled: StateInstalled,
	EventNotApplied: StateNotApplied, EventSuperseded: StateSuperseded, EventWithdrawn: StateWithdrawn,
	EventRefusedInstall: StateRefused, EventFailed: StateFailed,
}

// UpdateRecord is the lifecycle record of one accepted version of an id.
type UpdateRecord struct {
	ID        string         `json:"id"`
	Version   uint64         `json:"version"`
	Digest    updates.Digest `json:"digest"`
	State     State          `json:"state"`
	Detail    string         `json:"detail,omitempty"`
	Attempts  int            `json:"attempts,omitempty"`  // fetches tried
	NotBefore time.Time      `json:"not_before,omitzero"` // scheduled: when it may be installed
	Updated   time.Time      `json:"updated"`             // last transition
	Envelope  []byte         `json:"envelope,omitempty"`  // the merged envelope accepted, kept until final
	// EnvelopeBytes is the merged envelope's size, kept after the
	// envelope is dropped: how large the announcement gossip carried was.
	EnvelopeBytes int64 `json:"envelope_bytes,omitempty"`
}

// lifecyclePrefix keys UpdateRecords by id and zero-padded version, so a
// prefix scan lists an id's versions in order.
const lifecyclePrefix = "node/update/"

func lifecycleKey(id string, version uint64) string {
	return fmt.Sprintf("%s%s/%020d", lifecyclePrefix, id, version)
}

// lifecycle keeps UpdateRecords in the node's database, and in memory the
// version of each id an install handler is working on.
type lifecycle struct {
	mu       sync.Mutex
	db       *badger.DB
	now      func() time.Time
	inflight map[string]uint64 // id → version a handler is working on
}

func newLifecycle(db *badger.DB, now func() time.Time) *lifecycle {
	return &lifecycle{db: db, now: now, inflight: map[string]uint64{}}
}

// accept records acc as accepted, with the merged envelope to verify again
// after a restart, unless (id, version) has a record already; it reports
// whether it made one.
func (s *lifecycle) accept(acc *updates.Accepted, envelope []byte) (bool, error) {
	a := acc.Announcement
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok, err := s.get(a.ID, a.Patchnet.Version); err != nil || ok {
		return false, err
	}
	rec := UpdateRecord{ID: a.ID, Version: a.Patchnet.Version, Digest: acc.Digest, State: StateAccepted,
		Updated: s.now(), Envelope: envelope, EnvelopeBytes: int64(len(envelope))}
	return true, putRecord(s.db, lifecycleKey(a.ID, a.Patchnet.Version), rec)
}

// move records a transition of (id, version) to state; edit, if set,
// adjusts the record further. A final state is never left (a late event
// of a cancelled handler changes nothing), and drops the envelope.
func (s *lifecycle) move(id string, version uint64, state State, detail string, edit func(*UpdateRecord)) error {
	_, err := s.transition(id, version, state, detail, edit)
	return err
}

// transition is move that also reports whether the record moved (false
// when it was final already).
func (s *lifecycle) transition(id string, version uint64, state State, detail string, edit func(*UpdateRecord)) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok, err := s.get(id, version)
	switch {
	case err != nil:
		return false, err
	case !ok:
		return false, fmt.Errorf("recording %s version %d as %s: no lifecycle record", id, version, state)
	case rec.State.Final():
		return false, nil
	}
	rec.State, rec.Detail, rec.Updated = state, detail, s.now()
	if edit != nil {
		edit(&rec)
	}
	if state.Final() {
		rec.Envelope = nil
	}
	return true, putRecord(s.db, lifecycleKey(id, version), rec)
}

// get reads (id, version)'s record.
func (s *lifecycle) get(id string, version uint64) (UpdateRecord, bool, error) {
	return getRecord[UpdateRecord](s.db, lifecycleKey(id, version))
}

// list returns every record, by id then version.
func (s *lifecycle) list() ([]UpdateRecord, error) {
	var out []UpdateRecord
	err := eachRecord(s.db, lifecyclePrefix, func(_ string, rec UpdateRecord) error {
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing lifecycle records: %w", err)
	}
	slices.SortFunc(out, func(a, b UpdateRecord) int { return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version)) })
	return out, nil
}

// unfinished returns the records not in a final state.
func (s *lifecycle) unfinished() ([]UpdateRecord, error) {
	all, err := s.list()
	return slices.DeleteFunc(all, func(r UpdateRecord) bool { return r.State.Final() }), err
}

// claim marks (id, version) in flight unless that version or a higher one
// already is.
func (s *lifecycle) claim(id string, version uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] >= version {
		return false
	}
	s.inflight[id] = version
	return true
}

// unclaim ends the flight of (id, version) unless a newer version took over.
func (s *lifecycle) unclaim(id string, version uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] == version {
		delete(s.inflight, id)
	}
}

// step records the lifecycle transition an event stands for and emits it:
// the event log and the durable record say the same thing.
func (n *Node) step(a *updates.Announcement, kind EventKind, detail string, edit func(*UpdateRecord)) {
	n.stepMu.Lock()
	defer n.stepMu.Unlock()
	var moved State
	if state, ok := stateOf[kind]; ok && n.agent != nil {
		changed, err := n.agent.life.transition(a.ID, a.Patchnet.Version, state, detail, edit)
		if err != nil {
			n.log.Warn("recording update state", "id", a.ID, "version", a.Patchnet.Version, "state", state, "err", err)
		}
		if changed {
			moved = state
		}
	}
	n.emit(Event{Kind: kind, ID: a.ID, Version: a.Patchnet.Version, Detail: detail, State: moved, Published: publishedAt(a)})
}

// Updates lists the lifecycle record of every update this agent accepted.
func (n *Node) Updates() ([]UpdateRecord, error) {
	if n.agent == nil {
		return nil, nil
	}
	return n.agent.life.list()
}

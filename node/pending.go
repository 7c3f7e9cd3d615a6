package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// pendingPrefix keys an agent's record of an accepted update it has not
// finished with, per id.
const pendingPrefix = "node/pending/"

// pendingInstall is an accepted announcement waiting to be installed: its
// version and payload digest, and the merged envelope that was accepted, so
// it can be verified and queued again after a restart, a full install queue
// or failed fetches. The Acceptor records what it accepted before anything
// is installed, so without this record later copies would only be
// duplicates and the update would be lost.
type pendingInstall struct {
	Version  uint64         `json:"version"`
	Digest   updates.Digest `json:"digest"`
	Envelope []byte         `json:"envelope"`
}

// pendingStore keeps pendingInstalls in the node's database and tracks in
// memory which ids are being handled and which were settled this run.
type pendingStore struct {
	mu       sync.Mutex
	db       *badger.DB
	inflight map[string]uint64 // id → version a goroutine is handling
	settled  map[string]uint64 // id → version finished with this run
}

func newPendingStore(db *badger.DB) *pendingStore {
	return &pendingStore{db: db, inflight: map[string]uint64{}, settled: map[string]uint64{}}
}

// put records rec for id unless a higher version is recorded already.
func (s *pendingStore) put(id string, rec pendingInstall) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok, err := s.get(id)
	if err != nil {
		return err
	}
	if ok && old.Version > rec.Version {
		return nil
	}
	return putRecord(s.db, pendingPrefix+id, rec)
}

// get reads id's record; callers hold mu or accept a racy read.
func (s *pendingStore) get(id string) (pendingInstall, bool, error) {
	return getRecord[pendingInstall](s.db, pendingPrefix+id)
}

// finish forgets id's record if it is for version (a newer one stays) and
// remembers for this run that version was settled.
func (s *pendingStore) finish(id string, version uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.settled[id] < version {
		s.settled[id] = version
	}
	rec, ok, err := s.get(id)
	if err != nil || !ok || rec.Version != version {
		return err
	}
	return deleteRecord(s.db, pendingPrefix+id)
}

// all lists every record by id.
func (s *pendingStore) all() (map[string]pendingInstall, error) {
	out := map[string]pendingInstall{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pendingPrefix), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var rec pendingInstall
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
				return fmt.Errorf("decoding %s: %w", it.Item().Key(), err)
			}
			out[string(it.Item().Key()[len(pendingPrefix):])] = rec
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing pending installs: %w", err)
	}
	return out, nil
}

// claim marks (id, version) in flight unless that version or a higher one
// already is.
func (s *pendingStore) claim(id string, version uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] >= version {
		return false
	}
	s.inflight[id] = version
	return true
}

// unclaim ends the flight of (id, version) unless a newer version took over.
func (s *pendingStore) unclaim(id string, version uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] == version {
		delete(s.inflight, id)
	}
}

// wasSettled reports whether (id, version) was finished with this run.
func (s *pendingStore) wasSettled(id string, version uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settled[id] >= version
}

// queueInstall hands acc to the installer unless its id is being handled
// at this version or a higher one. A full queue drops it with an event; its
// pending record stays, so the next copy or a restart queues it again.
func (n *Node) queueInstall(acc *updates.Accepted) {
	a := acc.Announcement
	if !n.toInstall.claim(a.ID, a.Patchnet.Version) {
		return
	}
	select {
	case n.installQ <- acc:
	default:
		n.toInstall.unclaim(a.ID, a.Patchnet.Version)
		n.emit(Event{Kind: EventFailed, ID: a.ID, Version: a.Patchnet.Version,
			Detail: "install queue full: kept pending, queued again by the next copy or a restart"})
	}
}

// retryDuplicate queues again an accepted update that was not installed
// (queue full, fetches failed, or lost by a node that kept no pending
// record) when another copy of it arrives. Only the highest version
// accepted for its id is ever queued: a lower one was superseded.
func (n *Node) retryDuplicate(va *verifiedAnnouncement) {
	acc := va.Accepted
	id, v := acc.Announcement.ID, acc.Announcement.Patchnet.Version
	if high, ok, err := n.seen.Highest(id); err != nil || !ok || high != v {
		return
	}
	if n.toInstall.wasSettled(id, v) || n.installs.InstalledBy(id, v) != nil {
		return
	}
	if err := updates.QuorumError(acc, n.policy); err != nil {
		return // this copy alone is short of the quorum (the merged one was not)
	}
	if _, ok, err := n.toInstall.get(id); err == nil && !ok {
		raw, err := va.Envelope.Marshal()
		if err == nil {
			err = n.toInstall.put(id, pendingInstall{Version: v, Digest: acc.Digest, Envelope: raw})
		}
		if err != nil {
			n.log.Warn("recording pending install", "id", id, "err", err)
		}
	}
	n.queueInstall(acc)
}

// verifyStored verifies a pending install's envelope read back from the
// database: bytes from disk are verified like bytes from the wire, against
// the CRLs and clock of now, and must be the payload this node accepted
// for its id and version, with its quorum.
func (n *Node) verifyStored(id string, raw []byte) (*updates.Accepted, error) {
	acc, err := updates.VerifyAnnouncement(n.verifier, raw, n.zone, n.cfg.Publishers)
	if err != nil {
		return nil, err
	}
	a := acc.Announcement
	rec, ok, err := n.seen.Get(a.ID, a.Patchnet.Version)
	switch {
	case err != nil:
		return nil, err
	case a.ID != id:
		return nil, fmt.Errorf("recorded under id %s", id)
	case !ok || rec.Digest != acc.Digest:
		return nil, fmt.Errorf("re-accepting %s version %d: not the payload this node accepted", a.ID, a.Patchnet.Version)
	}
	return acc, updates.QuorumError(acc, n.policy)
}

// requeuePending queues every pending install recorded before a restart,
// verified again (a CRL or expiry may have voided it since).
func (n *Node) requeuePending() {
	recs, err := n.toInstall.all()
	if err != nil {
		n.log.Warn("reading pending installs", "err", err)
		return
	}
	for id, rec := range recs {
		acc, err := n.verifyStored(id, rec.Envelope)
		if errors.Is(err, trust.ErrInsufficientSigners) {
			// Kept: no current CRL yet, say; the next copy or restart retries.
			n.emit(Event{Kind: EventPending, ID: id, Version: rec.Version, Detail: fmt.Sprintf("pending install kept, not queued: %v", err)})
			continue
		}
		if err != nil {
			n.toInstall.finish(id, rec.Version)
			n.emit(Event{Kind: EventNotApplied, ID: id, Version: rec.Version, Detail: fmt.Sprintf("pending install dropped: %v", err)})
			continue
		}
		n.queueInstall(acc)
	}
}

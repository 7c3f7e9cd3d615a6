package node

import (
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// cosignPrefix keys a supernode's record of what it co-signed, per id.
const cosignPrefix = "node/cosigned/"

// cosignRecord is the highest version of one id a supernode co-signed and
// its payload digest: a supernode never co-signs a lower version (rollback)
// nor a second payload for the same version (equivocation).
type cosignRecord struct {
	Version uint64         `json:"version"`
	Digest  updates.Digest `json:"digest"`
	Done    bool           `json:"done"`
	// Prev is the record this reservation replaced, restored if co-signing
	// fails, so a failed fetch does not erase what was co-signed before.
	Prev *cosignRecord `json:"prev,omitempty"`
}

// cosignStore keeps cosignRecords in the node's database, and in memory
// the ids this process is co-signing: a reservation left !Done by a crash is
// not in flight after the restart, so the version can be co-signed again.
type cosignStore struct {
	mu       sync.Mutex
	db       *badger.DB
	inflight map[cosignKey]bool
	// parked holds, per version being checked, the newest proposal of
	// another payload for it, until that check ends (unpark).
	parked map[cosignKey]*verifiedAnnouncement
}

// cosignKey is one version of one id.
type cosignKey struct {
	id      string
	version uint64
}

func newCosignStore(db *badger.DB) *cosignStore {
	return &cosignStore{db: db, inflight: map[cosignKey]bool{}, parked: map[cosignKey]*verifiedAnnouncement{}}
}

func (s *cosignStore) get(id string) (cosignRecord, bool, error) {
	return getRecord[cosignRecord](s.db, cosignPrefix+id)
}

func (s *cosignStore) put(id string, rec cosignRecord) error {
	return putRecord(s.db, cosignPrefix+id, rec)
}

// errAlreadyCoSigned means this exact payload was co-signed (or is being).
var errAlreadyCoSigned = errors.New("already co-signed")

// errOtherInFlight means another payload of the version is being checked
// here: the proposal was parked, to be considered once that check ends.
var errOtherInFlight = errors.New("another payload of this version is being checked")

// errDisplaced is why a parked proposal was dropped: a newer payload of
// its version was parked in its place.
var errDisplaced = errors.New("dropped while waiting: a newer payload of this version arrived while another was being checked; publish again if this one is yours")

// parkedError is errOtherInFlight naming the proposal that the one just
// parked displaced, if any: only the newest waits, and the displaced one's
// publisher must be told it was dropped.
type parkedError struct{ displaced *verifiedAnnouncement }

func (e *parkedError) Error() string { return errOtherInFlight.Error() }
func (e *parkedError) Unwrap() error { return errOtherInFlight }

// displacedBy is the proposal a parking displaced (nil: none).
func displacedBy(err error) *verifiedAnnouncement {
	if pe := (*parkedError)(nil); errors.As(err, &pe) {
		return pe.displaced
	}
	return nil
}

// reserve claims (id, version, digest) for co-signing, or says why not:
// a lower version than one co-signed is a rollback, another payload for the
// same version an equivocation by its publishers. The same payload is
// errAlreadyCoSigned once done or while in flight here; a reservation left
// by a crashed run is claimed again. Another payload of a version whose
// check is in flight here is neither refused nor reserved: proposal (if
// any) is parked in place of any parked before it, and errOtherInFlight
// returned (naming the displaced proposal: displacedBy). A payload signed
// by the publisher's key with a wrong artifact (a byzantine supernode's, or a
// thief's) must not make an honest supernode refuse the real one while it
// is still finding the fake out at the vendor: the zone would then fall
// short of k honest co-signatures for good.
func (s *cosignStore) reserve(id string, version uint64, digest updates.Digest, proposal *verifiedAnnouncement) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok, err := s.get(id)
	key := cosignKey{id, version}
	switch {
	case err != nil:
		return err
	case ok && version == rec.Version && digest != rec.Digest && s.inflight[key]:
		if proposal == nil {
			return errOtherInFlight
		}
		prev := s.parked[key]
		s.parked[key] = proposal
		if prev != nil && prev.Accepted.Digest == digest {
			prev = nil // the same payload again
		}
		return &parkedError{displaced: prev}
	case ok && version < rec.Version:
		return fmt.Errorf("refusing version %d of %s: version %d was co-signed already: %w", version, id, rec.Version, trust.ErrRollback)
	case ok && version == rec.Version && digest != rec.Digest:
		return fmt.Errorf("refusing version %d of %s: another payload (%s) was co-signed for this version (equivocating publisher): %w",
			version, id, rec.Digest.String()[:16], trust.ErrEquivocation)
	case ok && version == rec.Version && (rec.Done || s.inflight[cosignKey{id, version}]):
		return errAlreadyCoSigned
	case ok && version == rec.Version:
		s.inflight[cosignKey{id, version}] = true // a crashed run's reservation: retry it
		return nil
	}
	next := cosignRecord{Version: version, Digest: digest}
	if ok {
		rec.Prev = nil
		next.Prev = &rec
	}
	if err := s.put(id, next); err != nil {
		return err
	}
	s.inflight[cosignKey{id, version}] = true
	return nil
}

// unpark takes the proposal parked for (id, version), if any: the check in
// flight for the version has ended, and the proposal is to be considered
// again (co-signed if the other payload failed its check, refused as an
// equivocation if it was co-signed).
func (s *cosignStore) unpark(id string, version uint64) *verifiedAnnouncement {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := cosignKey{id, version}
	p := s.parked[key]
	delete(s.parked, key)
	return p
}

// release forgets a reservation whose co-signing failed (the artifact could
// not be fetched), so a later copy of the proposal can try again.
func (s *cosignStore) release(id string, version uint64, digest updates.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, cosignKey{id, version})
	rec, ok, err := s.get(id)
	if err != nil || !ok || rec.Version != version || rec.Digest != digest || rec.Done {
		return
	}
	if rec.Prev != nil {
		s.put(id, *rec.Prev)
		return
	}
	_ = deleteRecord(s.db, cosignPrefix+id) // as if never reserved; a later copy retries
}

// done marks the reservation of (id, version, digest) as co-signed. A
// record that moved on meanwhile (a higher version reserved while this one
// was fetched) stays as it is: the record never moves backwards, or a
// second payload for that higher version would look new and be co-signed.
func (s *cosignStore) done(id string, version uint64, digest updates.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, cosignKey{id, version})
	rec, ok, err := s.get(id)
	switch {
	case err != nil:
		return err
	case !ok || rec.Version != version || rec.Digest != digest:
		return nil
	}
	rec.Done, rec.Prev = true, nil
	return s.put(id, rec)
}

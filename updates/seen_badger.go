package updates

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Badger keys. Ids never contain 0x00 (Validate allows letters, digits and
// "-_.:"), so it separates an id from the version that follows.
const (
	seenHighPrefix  = "updates/seen/high/"
	seenRecPrefix   = "updates/seen/rec/"
	seenAlertPrefix = "updates/seen/alert/"
)

// BadgerSeenStore is a SeenStore in a badger database that the caller opens
// and closes (the agent shares one database between its stores).
type BadgerSeenStore struct {
	db *badger.DB
}

// NewBadgerSeenStore uses db for seen versions and alerts.
func NewBadgerSeenStore(db *badger.DB) *BadgerSeenStore { return &BadgerSeenStore{db: db} }

func recKey(id string, version uint64) []byte {
	k := append([]byte(seenRecPrefix+id), 0)
	return binary.BigEndian.AppendUint64(k, version)
}

// Highest implements SeenStore.
func (s *BadgerSeenStore) Highest(id string) (uint64, bool, error) {
	var v uint64
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		b, ok, err := getValue(txn, []byte(seenHighPrefix+id))
		if err != nil || !ok {
			return err
		}
		if len(b) != 8 {
			return fmt.Errorf("highest version of %s: %d bytes stored, want 8", id, len(b))
		}
		v, found = binary.BigEndian.Uint64(b), true
		return nil
	})
	return v, found, err
}

// Get implements SeenStore.
func (s *BadgerSeenStore) Get(id string, version uint64) (SeenRecord, bool, error) {
	var rec SeenRecord
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		b, ok, err := getValue(txn, recKey(id, version))
		if err != nil || !ok {
			return err
		}
		found = true
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("decoding seen record %s version %d: %w", id, version, err)
		}
		return nil
	})
	return rec, found, err
}

// Put implements SeenStore; the record and the new highest version are
// written in one transaction.
func (s *BadgerSeenStore) Put(rec SeenRecord) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding seen record: %w", err)
	}
	return s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(recKey(rec.ID, rec.Version), val); err != nil {
			return fmt.Errorf("writing seen record: %w", err)
		}
		hk := []byte(seenHighPrefix + rec.ID)
		b, ok, err := getValue(txn, hk)
		if err != nil {
			return err
		}
		if ok && len(b) == 8 && binary.BigEndian.Uint64(b) >= rec.Version {
			return nil
		}
		return txn.Set(hk, binary.BigEndian.AppendUint64(nil, rec.Version))
	})
}

// Quarantine implements SeenStore.
func (s *BadgerSeenStore) Quarantine(a Alert) error {
	val, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding alert: %w", err)
	}
	k := append(recKey(a.ID, a.Version)[len(seenRecPrefix):], a.Second.Digest[:]...)
	k = append([]byte(seenAlertPrefix), k...)
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, val) })
}

// Alerts implements SeenStore.
func (s *BadgerSeenStore) Alerts() ([]Alert, error) {
	var out []Alert
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(seenAlertPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			b, err := it.Item().ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("reading alert: %w", err)
			}
			var a Alert
			if err := json.Unmarshal(b, &a); err != nil {
				return fmt.Errorf("decoding alert: %w", err)
			}
			out = append(out, a)
		}
		return nil
	})
	sortAlerts(out)
	return out, err
}

func getValue(txn *badger.Txn, key []byte) ([]byte, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %q: %w", key, err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("reading %q: %w", key, err)
	}
	return b, true, nil
}

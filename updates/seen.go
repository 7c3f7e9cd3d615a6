package updates

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// SeenRecord is one accepted announcement version: what equivocation and
// rollback checks compare against.
type SeenRecord struct {
	ID      string    `json:"id"`
	Version uint64    `json:"version"`
	Digest  Digest    `json:"digest"`
	Signers []string  `json:"signers"`
	At      time.Time `json:"at"`
}

// SeenStore remembers, per announcement id, the highest version accepted
// and the payload digest of every accepted version, plus quarantined
// equivocations. MemorySeenStore and BadgerSeenStore implement it.
type SeenStore interface {
	// Highest returns the highest version accepted for id.
	Highest(id string) (version uint64, ok bool, err error)
	// Get returns the record of id at version.
	Get(id string, version uint64) (SeenRecord, bool, error)
	// Put records an accepted version and raises Highest if it is higher.
	Put(rec SeenRecord) error
	// Quarantine records an equivocation alert.
	Quarantine(a Alert) error
	// Alerts lists recorded alerts, ordered by id, version and time.
	Alerts() ([]Alert, error)
}

// MemorySeenStore is a SeenStore in memory, for tests and the testnet.
type MemorySeenStore struct {
	mu      sync.Mutex
	highest map[string]uint64
	records map[string]map[uint64]SeenRecord
	alerts  []Alert
}

// NewMemorySeenStore returns an empty in-memory store.
func NewMemorySeenStore() *MemorySeenStore {
	return &MemorySeenStore{highest: map[string]uint64{}, records: map[string]map[uint64]SeenRecord{}}
}

// Highest implements SeenStore.
func (s *MemorySeenStore) Highest(id string) (uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.highest[id]
	return v, ok, nil
}

// Get implements SeenStore.
func (s *MemorySeenStore) Get(id string, version uint64) (SeenRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id][version]
	return cloneRecord(r), ok, nil
}

// Put implements SeenStore.
func (s *MemorySeenStore) Put(rec SeenRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records[rec.ID] == nil {
		s.records[rec.ID] = map[uint64]SeenRecord{}
	}
	s.records[rec.ID][rec.Version] = cloneRecord(rec)
	if h, ok := s.highest[rec.ID]; !ok || rec.Version > h {
		s.highest[rec.ID] = rec.Version
	}
	return nil
}

// Quarantine implements SeenStore.
func (s *MemorySeenStore) Quarantine(a Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts = append(s.alerts, a)
	return nil
}

// Alerts implements SeenStore.
func (s *MemorySeenStore) Alerts() ([]Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.alerts)
	sortAlerts(out)
	return out, nil
}

func sortAlerts(as []Alert) {
	slices.SortStableFunc(as, func(a, b Alert) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version), a.At.Compare(b.At))
	})
}

func cloneRecord(r SeenRecord) SeenRecord {
	r.Signers = slices.Clone(r.Signers)
	return r
}

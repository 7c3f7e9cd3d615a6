package install

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrNotFound is returned for a transaction id the journal does not hold.
var ErrNotFound = errors.New("no such transaction")

// Store keeps journal records. Put must be durable when it returns: the
// journal is what crash recovery reads.
type Store interface {
	// Put inserts or replaces tx.
	Put(tx *Transaction) error
	// Get returns the transaction with id, or an error matching ErrNotFound.
	Get(id string) (*Transaction, error)
	// List returns up to MaxHistory transactions, oldest first (the newest
	// when there are more).
	List() ([]*Transaction, error)
	// Close releases the store.
	Close() error
}

// MemoryStore is a Store in memory, for tests and for tools that journal
// nothing.
type MemoryStore struct {
	mu  sync.Mutex
	txs map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{txs: map[string][]byte{}} }

// Put stores an encoded copy, so later changes to tx do not leak in.
func (s *MemoryStore) Put(tx *Transaction) error {
	b, err := encodeTransaction(tx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txs == nil {
		return errors.New("journal store is closed")
	}
	s.txs[tx.ID] = b
	return nil
}

// Get decodes the stored copy.
func (s *MemoryStore) Get(id string) (*Transaction, error) {
	s.mu.Lock()
	b, ok := s.txs[id]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("transaction %s: %w", clipText(id), ErrNotFound)
	}
	return decodeTransaction(b)
}

// List returns the transactions sorted by id.
func (s *MemoryStore) List() ([]*Transaction, error) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.txs))
	for id := range s.txs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Strings(ids)
	if len(ids) > MaxHistory {
		ids = ids[len(ids)-MaxHistory:]
	}
	out := make([]*Transaction, 0, len(ids))
	for _, id := range ids {
		tx, err := s.Get(id)
		if err != nil {
			return nil, err
		}
		out = append(out, tx)
	}
	return out, nil
}

// Close drops the contents.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	s.txs = nil
	s.mu.Unlock()
	return nil
}

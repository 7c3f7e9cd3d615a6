package overlay

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Kind says what a stored item is. It is the serving peer's claim, a hint
// only: every item is verified by the MessageValidator before delivery.
type Kind uint8

// Item kinds served by catch-up.
const (
	KindAnnouncement Kind = 1
	KindCRL          Kind = 2
	KindHeartbeat    Kind = 3
	KindPolicy       Kind = 4
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindAnnouncement:
		return "announcement"
	case KindCRL:
		return "crl"
	case KindHeartbeat:
		return "heartbeat"
	case KindPolicy:
		return "policy"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool { return k >= KindAnnouncement && k <= KindPolicy }

// Item is one stored signed blob with its place in the store's sequence.
type Item struct {
	Seq  uint64
	Kind Kind
	Data []byte
}

// ErrStoreClosed is returned by a store used after Close.
var ErrStoreClosed = errors.New("item store closed")

// ItemStore keeps the signed items (announcements, CRLs, heartbeats, zone
// policy) a node serves to peers catching up. Sequences are per store:
// Append assigns increasing numbers, identical data is stored once, and
// each kind keeps only its newest items (Keep).
type ItemStore interface {
	// Epoch identifies this store's sequence space. A new store gets a new
	// random epoch, so a peer's cursor into an old one is not reused.
	Epoch() uint64
	// Append stores data unless identical data is stored already, and
	// returns its sequence number either way.
	Append(kind Kind, data []byte) (seq uint64, err error)
	// Since returns items with Seq > cursor in order, at most maxItems and
	// maxBytes of data (always at least one item if any is left).
	Since(cursor uint64, maxItems, maxBytes int) ([]Item, error)
	// Has reports whether data with this SHA-256 is stored.
	Has(hash [32]byte) (bool, error)
	// Head is the highest sequence number assigned so far.
	Head() (uint64, error)
	// Close releases the store.
	Close() error
}

// Keep caps the stored items per kind; the oldest are dropped first.
type Keep map[Kind]int

// DefaultKeep keeps a long history of announcements and the newest few of
// everything that supersedes itself.
func DefaultKeep() Keep {
	return Keep{
		KindAnnouncement: DefaultKeepAnnouncements,
		KindCRL:          DefaultKeepCRLs,
		KindHeartbeat:    DefaultKeepHeartbeats,
		KindPolicy:       DefaultKeepPolicies,
	}
}

func (k Keep) limit(kind Kind) int {
	if n, ok := k[kind]; ok && n > 0 {
		return n
	}
	return DefaultKeepAnnouncements
}

// checkAppend validates what any store is asked to keep.
func checkAppend(kind Kind, data []byte) error {
	if !kind.Valid() {
		return fmt.Errorf("appending item: unknown kind %d", kind)
	}
	if len(data) == 0 || len(data) > MaxItemBytes {
		return fmt.Errorf("appending %s: %d bytes: want 1 to %d", kind, len(data), MaxItemBytes)
	}
	return nil
}

// checkSince validates Since's bounds.
func checkSince(maxItems, maxBytes int) error {
	if maxItems < 1 || maxBytes < 1 {
		return fmt.Errorf("listing items: max items %d, max bytes %d: want both positive", maxItems, maxBytes)
	}
	return nil
}

func randomEpoch() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return binary.BigEndian.Uint64(b[:]) | 1
}

// MemoryStore is an ItemStore in memory, for tests and nodes without disk.
type MemoryStore struct {
	mu     sync.Mutex
	epoch  uint64
	keep   Keep
	head   uint64
	items  []Item // ascending Seq
	hashes map[[32]byte]uint64
	counts map[Kind]int
	closed bool
}

// NewMemoryStore returns an empty store with a fresh epoch.
func NewMemoryStore(keep Keep) *MemoryStore {
	return &MemoryStore{
		epoch:  randomEpoch(),
		keep:   keep,
		hashes: map[[32]byte]uint64{},
		counts: map[Kind]int{},
	}
}

// Epoch returns the store's epoch.
func (m *MemoryStore) Epoch() uint64 { return m.epoch }

// Append stores data once and returns its sequence number.
func (m *MemoryStore) Append(kind Kind, data []byte) (uint64, error) {
	if err := checkAppend(kind, data); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrStoreClosed
	}
	h := sha256.Sum256(data)
	if seq, ok := m.hashes[h]; ok {
		return seq, nil
	}
	m.head++
	m.items = append(m.items, Item{Seq: m.head, Kind: kind, Data: slices.Clone(data)})
	m.hashes[h] = m.head
	m.counts[kind]++
	if m.counts[kind] > m.keep.limit(kind) {
		m.dropOldest(kind)
	}
	return m.head, nil
}

func (m *MemoryStore) dropOldest(kind Kind) {
	i := slices.IndexFunc(m.items, func(it Item) bool { return it.Kind == kind })
	delete(m.hashes, sha256.Sum256(m.items[i].Data))
	m.items = slices.Delete(m.items, i, i+1)
	m.counts[kind]--
}

// Since returns the items after cursor.
func (m *MemoryStore) Since(cursor uint64, maxItems, maxBytes int) ([]Item, error) {
	if err := checkSince(maxItems, maxBytes); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrStoreClosed
	}
	start, _ := slices.BinarySearchFunc(m.items, cursor+1, func(it Item, seq uint64) int {
		return cmp.Compare(it.Seq, seq)
	})
	var out []Item
	size := 0
	for _, it := range m.items[start:] {
		if len(out) == maxItems || (len(out) > 0 && size+len(it.Data) > maxBytes) {
			break
		}
		size += len(it.Data)
		out = append(out, Item{Seq: it.Seq, Kind: it.Kind, Data: slices.Clone(it.Data)})
	}
	return out, nil
}

// Has reports whether data with this hash is stored.
func (m *MemoryStore) Has(hash [32]byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.hashes[hash]
	return ok, nil
}

// Head returns the highest sequence number assigned.
func (m *MemoryStore) Head() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.head, nil
}

// Close marks the store closed.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

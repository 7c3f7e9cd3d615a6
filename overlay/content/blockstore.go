package content

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Blockstore holds content-addressed blocks. Get re-hashes what it returns,
// so a block corrupted at rest is reported (ErrCorruptBlock), never served.
type Blockstore interface {
	// Has reports whether the block is held.
	Has(ctx context.Context, c cid.Cid) (bool, error)
	// Get returns the block's bytes after checking them against c. A missing
	// block is ErrNotFound, a corrupt one ErrCorruptBlock.
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	// PutVerified stores data under c. The caller guarantees data hashes to
	// c (Import computes c from data; the fetcher checks each block on
	// arrival); Get checks again, so a wrong caller cannot poison readers.
	PutVerified(ctx context.Context, c cid.Cid, data []byte) error
	// Size returns the stored block's length, or ErrNotFound.
	Size(ctx context.Context, c cid.Cid) (int, error)
	// Delete removes the block; deleting a missing block is not an error.
	Delete(ctx context.Context, c cid.Cid) error
	// AllKeys lists every block held, in no particular order.
	AllKeys(ctx context.Context) ([]cid.Cid, error)
	// Stored is when the block was last written, or ErrNotFound: pruning
	// leaves blocks stored since it began (a fetch in flight) alone.
	Stored(ctx context.Context, c cid.Cid) (time.Time, error)
}

// verifyBlock checks that data hashes to c. sha2-256, the only hash this
// package produces, takes the crypto/sha256 fast path (SHA-NI); others go
// through go-multihash.
func verifyBlock(c cid.Cid, data []byte) error {
	dec, err := mh.Decode(c.Hash())
	if err != nil {
		return fmt.Errorf("decoding multihash of %s: %w", c, ErrBadDAG)
	}
	if dec.Code == mh.SHA2_256 && dec.Length == sha256.Size {
		if sum := sha256.Sum256(data); string(sum[:]) != string(dec.Digest) {
			return fmt.Errorf("block %s: %w", c, ErrCorruptBlock)
		}
		return nil
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return fmt.Errorf("hashing block %s: %w", c, err)
	}
	if !got.Equals(c) {
		return fmt.Errorf("block %s: %w", c, ErrCorruptBlock)
	}
	return nil
}

// MemStore is an in-memory Blockstore for tests and simulations.
type MemStore struct {
	mu     sync.RWMutex
	blocks map[string][]byte    // keyed by the CID's binary form
	stored map[string]time.Time // when each was written
}

var _ Blockstore = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{blocks: make(map[string][]byte), stored: make(map[string]time.Time)}
}

// Has implements Blockstore.
func (m *MemStore) Has(_ context.Context, c cid.Cid) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.blocks[c.KeyString()]
	return ok, nil
}

// Get implements Blockstore. The returned slice is the caller's.
func (m *MemStore) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	m.mu.RLock()
	data, ok := m.blocks[c.KeyString()]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("getting %s: %w", c, ErrNotFound)
	}
	if err := verifyBlock(c, data); err != nil {
		return nil, err
	}
	return slices.Clone(data), nil
}

// PutVerified implements Blockstore; it keeps its own copy of data.
func (m *MemStore) PutVerified(_ context.Context, c cid.Cid, data []byte) error {
	if len(data) > MaxBlockSize {
		return fmt.Errorf("storing %s of %d bytes: %w", c, len(data), ErrOversized)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks[c.KeyString()] = slices.Clone(data)
	m.stored[c.KeyString()] = time.Now()
	return nil
}

// Size implements Blockstore.
func (m *MemStore) Size(_ context.Context, c cid.Cid) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	data, ok := m.blocks[c.KeyString()]
	if !ok {
		return 0, fmt.Errorf("sizing %s: %w", c, ErrNotFound)
	}
	return len(data), nil
}

// Delete implements Blockstore.
func (m *MemStore) Delete(_ context.Context, c cid.Cid) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blocks, c.KeyString())
	delete(m.stored, c.KeyString())
	return nil
}

// Stored implements Blockstore.
func (m *MemStore) Stored(_ context.Context, c cid.Cid) (time.Time, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	at, ok := m.stored[c.KeyString()]
	if !ok {
		return time.Time{}, fmt.Errorf("dating %s: %w", c, ErrNotFound)
	}
	return at, nil
}

// AllKeys implements Blockstore.
func (m *MemStore) AllKeys(_ context.Context) ([]cid.Cid, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	keys := make([]cid.Cid, 0, len(m.blocks))
	for k := range m.blocks {
		c, err := cid.Cast([]byte(k))
		if err != nil {
			return nil, fmt.Errorf("listing keys: %w", err)
		}
		keys = append(keys, c)
	}
	return keys, nil
}

// corrupt flips a byte of a held block; tests use it to stand in for bit rot.
func (m *MemStore) corrupt(c cid.Cid) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.blocks[c.KeyString()]; len(b) > 0 {
		b[len(b)/2] ^= 0xff
	}
}

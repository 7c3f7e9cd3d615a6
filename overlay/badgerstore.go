package overlay

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/internal/badgerdb"
)

// BadgerStore is an ItemStore in a badger database, so catch-up survives a
// restart. It may share the node's database under its own key prefix.
//
// Keys under the prefix:
//
//	m/epoch            → epoch (8 bytes)
//	m/head             → highest sequence (8 bytes)
//	i/<seq>            → kind (1 byte) + data
//	h/<sha256>         → seq
//	k/<kind><seq>      → (empty): per-kind index, oldest first
type BadgerStore struct {
	mu     sync.Mutex
	db     *badger.DB
	ownsDB bool
	prefix []byte
	keep   Keep
	epoch  uint64
	head   uint64
	counts map[Kind]int
}

// OpenBadgerStore opens (or creates) a store in its own badger database in
// dir.
func OpenBadgerStore(dir string, keep Keep) (*BadgerStore, error) {
	db, err := badgerdb.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		return nil, fmt.Errorf("opening item store: %w", err)
	}
	s, err := NewBadgerStore(db, nil, keep)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.ownsDB = true
	return s, nil
}

// NewBadgerStore keeps items in db under prefix. Close does not close db.
func NewBadgerStore(db *badger.DB, prefix []byte, keep Keep) (*BadgerStore, error) {
	s := &BadgerStore{db: db, prefix: append([]byte(nil), prefix...), keep: keep, counts: map[Kind]int{}}
	if err := db.Update(s.load); err != nil {
		return nil, fmt.Errorf("loading item store: %w", err)
	}
	return s, nil
}

func (s *BadgerStore) key(parts ...[]byte) []byte {
	k := append([]byte(nil), s.prefix...)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// load reads or creates the epoch, the head and per-kind counts.
func (s *BadgerStore) load(txn *badger.Txn) error {
	epoch, err := s.getU64(txn, s.key([]byte("m/epoch")))
	if errors.Is(err, badger.ErrKeyNotFound) {
		epoch = randomEpoch()
		err = txn.Set(s.key([]byte("m/epoch")), u64(epoch))
	}
	if err != nil {
		return err
	}
	s.epoch = epoch
	head, err := s.getU64(txn, s.key([]byte("m/head")))
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	s.head = head
	prefix := s.key([]byte("k/"))
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		k := it.Item().Key()
		if len(k) != len(prefix)+9 {
			return fmt.Errorf("kind index key %x: corrupt length %d", k, len(k))
		}
		s.counts[Kind(k[len(prefix)])]++
	}
	return nil
}

func (s *BadgerStore) getU64(txn *badger.Txn, key []byte) (uint64, error) {
	item, err := txn.Get(key)
	if err != nil {
		return 0, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("key %q: corrupt %d-byte counter", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Epoch returns the store's epoch, kept across restarts.
func (s *BadgerStore) Epoch() uint64 { return s.epoch }

// Append stores data once and returns its sequence number.
func (s *BadgerStore) Append(kind Kind, data []byte) (uint64, error) {
	if err := checkAppend(kind, data); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := sha256.Sum256(data)
	var seq uint64
	dropped := false
	err := s.db.Update(func(txn *badger.Txn) error {
		old, err := s.getU64(txn, s.key([]byte("h/"), h[:]))
		if err == nil {
			seq = old
			return nil
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		seq = s.head + 1
		if err := s.put(txn, seq, kind, data, h); err != nil {
			return err
		}
		if s.counts[kind]+1 > s.keep.limit(kind) {
			dropped = true
			return s.dropOldest(txn, kind)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("appending %s: %w", kind, err)
	}
	if seq > s.head {
		s.head = seq
		s.counts[kind]++
		if dropped {
			s.counts[kind]--
		}
	}
	return seq, nil
}

func (s *BadgerStore) put(txn *badger.Txn, seq uint64, kind Kind, data []byte, h [32]byte) error {
	val := append([]byte{byte(kind)}, data...)
	for _, kv := range [][2][]byte{
		{s.key([]byte("i/"), u64(seq)), val},
		{s.key([]byte("h/"), h[:]), u64(seq)},
		{s.key([]byte("k/"), []byte{byte(kind)}, u64(seq)), nil},
		{s.key([]byte("m/head")), u64(seq)},
	} {
		if err := txn.Set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// dropOldest deletes the oldest item of kind.
func (s *BadgerStore) dropOldest(txn *badger.Txn, kind Kind) error {
	prefix := s.key([]byte("k/"), []byte{byte(kind)})
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	it.Seek(prefix)
	if !it.ValidForPrefix(prefix) {
		it.Close()
		return nil
	}
	kkey := it.Item().KeyCopy(nil)
	it.Close()
	seqBytes := kkey[len(prefix):]
	item, err := txn.Get(s.key([]byte("i/"), seqBytes))
	if err != nil {
		return fmt.Errorf("reading oldest %s: %w", kind, err)
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	h := sha256.Sum256(val[1:])
	for _, k := range [][]byte{kkey, s.key([]byte("i/"), seqBytes), s.key([]byte("h/"), h[:])} {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Since returns the items after cursor.
func (s *BadgerStore) Since(cursor uint64, maxItems, maxBytes int) ([]Item, error) {
	if err := checkSince(maxItems, maxBytes); err != nil {
		return nil, err
	}
	var out []Item
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := s.key([]byte("i/"))
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		size := 0
		for it.Seek(s.key([]byte("i/"), u64(cursor+1))); it.ValidForPrefix(prefix) && len(out) < maxItems; it.Next() {
			it, err := s.decodeItem(prefix, it.Item())
			if err != nil {
				return err
			}
			if len(out) > 0 && size+len(it.Data) > maxBytes {
				break
			}
			size += len(it.Data)
			out = append(out, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing items after %d: %w", cursor, err)
	}
	return out, nil
}

func (s *BadgerStore) decodeItem(prefix []byte, item *badger.Item) (Item, error) {
	k := item.Key()
	if len(k) != len(prefix)+8 {
		return Item{}, fmt.Errorf("item key %x: corrupt length %d", k, len(k))
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return Item{}, err
	}
	if len(val) < 2 || !Kind(val[0]).Valid() {
		return Item{}, fmt.Errorf("item %x: corrupt value", k)
	}
	return Item{Seq: binary.BigEndian.Uint64(k[len(prefix):]), Kind: Kind(val[0]), Data: val[1:]}, nil
}

// Has reports whether data with this hash is stored.
func (s *BadgerStore) Has(hash [32]byte) (bool, error) {
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(s.key([]byte("h/"), hash[:]))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up item %x: %w", hash[:8], err)
	}
	return true, nil
}

// Head returns the highest sequence number assigned.
func (s *BadgerStore) Head() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, nil
}

// Close closes the database if the store opened it.
func (s *BadgerStore) Close() error {
	if !s.ownsDB {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing item store: %w", err)
	}
	return nil
}

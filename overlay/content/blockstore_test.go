package content

import (
	stdcmp "cmp"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/patchnet/patchnet/trust"
)

// storeKind is one Blockstore implementation under the shared suite.
type storeKind struct {
	name string
	open func(t *testing.T) Blockstore
	// corrupt damages a held block the way that store can be damaged.
	corrupt func(t *testing.T, s Blockstore, c cid.Cid)
}

var storeKinds = []storeKind{
	{
		name: "disk",
		open: func(t *testing.T) Blockstore { return diskStore(t) },
		corrupt: func(t *testing.T, s Blockstore, c cid.Cid) {
			p, err := s.(*DiskStore).path(c)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			// A rewrite moves the modification time; make sure it moved even
			// on a coarse-grained file system.
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name:    "memory",
		open:    func(*testing.T) Blockstore { return NewMemStore() },
		corrupt: func(_ *testing.T, s Blockstore, c cid.Cid) { s.(*MemStore).corrupt(c) },
	},
}

func rawBlock(t *testing.T, data []byte) cid.Cid {
	t.Helper()
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBlockstore(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { testBlockstore(t, k) })
	}
}

func testBlockstore(t *testing.T, k storeKind) {
	ctx := context.Background()
	s := k.open(t)
	a, b := []byte("block a"), make([]byte, ChunkSize)
	ca, cb := rawBlock(t, a), rawBlock(t, b)
	missing := rawBlock(t, []byte("never stored"))
	before := time.Now().Add(-time.Second) // a file system's clock may be coarse
	for _, blk := range []struct {
		c cid.Cid
		d []byte
	}{{ca, a}, {cb, b}} {
		if err := s.PutVerified(ctx, blk.c, blk.d); err != nil {
			t.Fatalf("PutVerified: %v", err)
		}
	}
	if err := s.PutVerified(ctx, ca, a); err != nil {
		t.Fatalf("PutVerified again: %v", err)
	}
	got, err := s.Get(ctx, ca)
	if err != nil || string(got) != string(a) {
		t.Fatalf("Get = %q, %v; want %q", got, err, a)
	}
	got[0] ^= 1 // the caller's copy: must not change the store
	if again, _ := s.Get(ctx, ca); string(again) != string(a) {
		t.Fatalf("mutating Get's result changed the stored block")
	}
	if has, err := s.Has(ctx, cb); !has || err != nil {
		t.Errorf("Has(stored) = %v, %v", has, err)
	}
	if has, err := s.Has(ctx, missing); has || err != nil {
		t.Errorf("Has(missing) = %v, %v", has, err)
	}
	if n, err := s.Size(ctx, cb); n != len(b) || err != nil {
		t.Errorf("Size = %d, %v; want %d", n, err, len(b))
	}
	if at, err := s.Stored(ctx, cb); err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("Stored = %v, %v; want about now", at, err)
	}
	for name, err := range map[string]error{
		"Get":    second(s.Get(ctx, missing)),
		"Size":   second(s.Size(ctx, missing)),
		"Stored": second(s.Stored(ctx, missing)),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s(missing) error %v, want ErrNotFound", name, err)
		}
	}
	keys, err := s.AllKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sortCIDs(keys)
	want := []cid.Cid{ca, cb}
	sortCIDs(want)
	if diff := cmp.Diff(want, keys, cmp.Comparer(func(x, y cid.Cid) bool { return x.Equals(y) })); diff != "" {
		t.Errorf("AllKeys (-want +got):\n%s", diff)
	}
	if err := s.PutVerified(ctx, missing, make([]byte, MaxBlockSize+1)); !errors.Is(err, ErrOversized) {
		t.Errorf("PutVerified of %d bytes: %v, want ErrOversized", MaxBlockSize+1, err)
	}
	if err := s.Delete(ctx, ca); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ca); err != nil {
		t.Errorf("deleting a missing block: %v", err)
	}
	if has, _ := s.Has(ctx, ca); has {
		t.Errorf("deleted block still held")
	}
	if _, err := s.Stored(ctx, ca); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stored of a deleted block: %v, want ErrNotFound", err)
	}

	t.Run("corrupt block detected", func(t *testing.T) {
		if _, err := s.Get(ctx, cb); err != nil { // a first, good read
			t.Fatal(err)
		}
		k.corrupt(t, s, cb)
		_, err := s.Get(ctx, cb)
		if !errors.Is(err, ErrCorruptBlock) || !errors.Is(err, trust.ErrUntrusted) {
			t.Fatalf("Get of a corrupted block: %v, want ErrCorruptBlock", err)
		}
	})
}

func second[T any](_ T, err error) error { return err }

func sortCIDs(cs []cid.Cid) {
	slices.SortFunc(cs, func(a, b cid.Cid) int { return stdcmp.Compare(a.KeyString(), b.KeyString()) })
}

func TestDiskStorePersistsAndCleansTemp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDiskStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("kept across restarts")
	c := rawBlock(t, data)
	if err := s.PutVerified(ctx, c, data); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "tmp", "put-123")
	if err := os.WriteFile(torn, []byte("half a blo"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenDiskStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Get(ctx, c); err != nil || string(got) != string(data) {
		t.Errorf("after reopening: Get = %q, %v", got, err)
	}
	if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file left by a crash not removed: %v", err)
	}
}

func TestDiskStoreRehashesRewrittenBlock(t *testing.T) {
	ctx := context.Background()
	s := diskStore(t).(*DiskStore)
	data := []byte("served many times")
	c := rawBlock(t, data)
	if err := s.PutVerified(ctx, c, data); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Same length, new bytes, and a new modification time: the stamp no
	// longer matches, so the block is hashed again.
	p, _ := s.path(c)
	if err := os.WriteFile(p, []byte("served many timeZ"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c); !errors.Is(err, ErrCorruptBlock) {
		t.Fatalf("Get of a rewritten block: %v, want ErrCorruptBlock", err)
	}
}

func TestDiskStoreDetectsRotAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDiskStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4096)
	c := rawBlock(t, data)
	if err := s.PutVerified(ctx, c, data); err != nil {
		t.Fatal(err)
	}
	// Bit rot: the bytes change, the modification time does not.
	p, _ := s.path(c)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	data[7] = 1
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenDiskStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(ctx, c); !errors.Is(err, ErrCorruptBlock) {
		t.Fatalf("Get of a rotten block after restart: %v, want ErrCorruptBlock", err)
	}
}

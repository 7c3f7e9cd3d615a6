package content

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

func TestImportMatchesContentID(t *testing.T) {
	for _, size := range []int{0, 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 17} {
		data, _ := artifact(size, uint64(size))
		store := NewMemStore()
		root, err := Import(context.Background(), bytes.NewReader(data), store)
		if err != nil {
			t.Fatalf("Import(%d bytes): %v", size, err)
		}
		id, err := ContentID(bytes.NewReader(data))
		if err != nil || !id.Equals(root) {
			t.Fatalf("ContentID(%d bytes) = %s, %v; Import gave %s", size, id, err, root)
		}
		if p := root.Prefix(); p.Version != 1 || p.MhType != 0x12 {
			t.Errorf("root %s is not CIDv1 sha2-256", root)
		}
		// Single-chunk artifacts are one raw block; larger ones a dag-pb
		// root over raw leaves that reassemble the input.
		wantCodec := uint64(cid.DagProtobuf)
		if size <= ChunkSize {
			wantCodec = cid.Raw
		}
		if root.Prefix().Codec != wantCodec {
			t.Errorf("%d bytes: root codec %x, want %x", size, root.Prefix().Codec, wantCodec)
		}
		var got bytes.Buffer
		for _, l := range leavesOf(t, store, root, int64(size)) {
			if l.c.Prefix().Codec != cid.Raw {
				t.Fatalf("leaf %s is not raw", l.c)
			}
			b, err := store.Get(context.Background(), l.c)
			if err != nil {
				t.Fatal(err)
			}
			got.Write(b)
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Errorf("%d bytes: leaves reassemble %d bytes that differ", size, got.Len())
		}
	}
}

func TestImportDistinguishesContent(t *testing.T) {
	a, _ := ContentID(strings.NewReader("patch 1.0.1"))
	b, _ := ContentID(strings.NewReader("patch 1.0.2"))
	if a.Equals(b) {
		t.Fatalf("different artifacts share content id %s", a)
	}
}

func TestLimitedReaderRefusesOversized(t *testing.T) {
	lr := &limitedReader{r: strings.NewReader("0123456789"), left: 5}
	if _, err := io.ReadAll(lr); !errors.Is(err, ErrOversized) {
		t.Fatalf("reading 10 bytes with a 5-byte limit: %v, want ErrOversized", err)
	}
}

type failingStore struct{ *MemStore }

func (failingStore) PutVerified(context.Context, cid.Cid, []byte) error {
	return errors.New("disk full")
}

func TestImportReportsStoreErrors(t *testing.T) {
	_, err := Import(context.Background(), strings.NewReader("x"), failingStore{NewMemStore()})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Import into a failing store: %v", err)
	}
}

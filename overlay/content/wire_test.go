package content

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func sumCID(t testing.TB, v uint64, codec uint64, hash uint64, data string) cid.Cid {
	t.Helper()
	var c cid.Cid
	var err error
	if v == 0 {
		c, err = cid.V0Builder{}.Sum([]byte(data))
	} else {
		c, err = cid.V1Builder{Codec: codec, MhType: hash}.Sum([]byte(data))
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRequestRoundTrip(t *testing.T) {
	cids := []cid.Cid{sumCID(t, 1, cid.Raw, mh.SHA2_256, "a"), sumCID(t, 1, cid.DagProtobuf, mh.SHA2_256, "b")}
	got, err := decodeRequest(bytes.NewReader(encodeRequest(nil, cids)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cids, got, cmp.Comparer(func(a, b cid.Cid) bool { return a.Equals(b) })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	good := sumCID(t, 1, cid.Raw, mh.SHA2_256, "a")
	many := make([]cid.Cid, MaxBlocksPerRequest+1)
	for i := range many {
		many[i] = good
	}
	for _, tc := range []struct {
		name string
		req  []byte
	}{
		{"empty", nil},
		{"zero CIDs", []byte{0}},
		{"too many CIDs", encodeRequest(nil, many)},
		{"truncated CID", encodeRequest(nil, []cid.Cid{good})[:10]},
		{"CID too long", binary.AppendUvarint([]byte{1}, MaxCIDLen+1)},
		{"zero-length CID", []byte{1, 0}},
		{"not a CID", append([]byte{1, 4}, "abcd"...)},
		{"CIDv0", encodeRequest(nil, []cid.Cid{sumCID(t, 0, 0, 0, "a")})},
		{"identity hash", encodeRequest(nil, []cid.Cid{sumCID(t, 1, cid.Raw, mh.IDENTITY, "a")})},
		{"sha1", encodeRequest(nil, []cid.Cid{sumCID(t, 1, cid.Raw, mh.SHA1, "a")})},
		{"dag-cbor codec", encodeRequest(nil, []cid.Cid{sumCID(t, 1, cid.DagCBOR, mh.SHA2_256, "a")})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeRequest(bytes.NewReader(tc.req)); !errors.Is(err, ErrMalformedRequest) {
				t.Errorf("decodeRequest: %v, want ErrMalformedRequest", err)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	block := func(n int) []byte {
		var b bytes.Buffer
		writeBlockFrame(&b, make([]byte, n))
		return b.Bytes()
	}
	var errFrame bytes.Buffer
	writeErrorFrame(&errFrame, "no such thing")
	for _, tc := range []struct {
		name    string
		in      []byte
		want    int
		status  byte
		n       int
		wantErr error
	}{
		{"block", block(10), 10, statusBlock, 10, nil},
		{"block, size unknown", block(10), -1, statusBlock, 10, nil},
		{"missing", []byte{statusMissing}, 10, statusMissing, 0, nil},
		{"busy", []byte{statusBusy, 0}, 10, statusBusy, 0, nil},
		{"busy, oversized hints", binary.AppendUvarint([]byte{statusBusy}, MaxBusyFrame+1), 10, 0, 0, ErrEndlessData},
		{"error", errFrame.Bytes(), 10, statusError, len("no such thing"), nil},
		{"wrong size", block(11), 10, 0, 0, ErrSizeMismatch},
		{"oversized", binary.AppendUvarint([]byte{statusBlock}, MaxBlockSize+1), -1, 0, 0, ErrEndlessData},
		{"oversized error text", binary.AppendUvarint([]byte{statusError}, MaxErrorMessage+1), -1, 0, 0, ErrEndlessData},
		{"truncated", block(10)[:8], 10, 0, 0, io.ErrUnexpectedEOF},
		{"unknown status", []byte{9}, 10, 0, 0, ErrMalformedRequest},
		{"nothing", nil, 10, 0, 0, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr, err := readFrame(bufio.NewReader(bytes.NewReader(tc.in)), tc.want, nil)
			if !errors.Is(err, tc.wantErr) || err == nil && (fr.status != tc.status || len(fr.data) != tc.n) {
				t.Errorf("readFrame = status %d, %d bytes, err %v; want status %d, %d bytes, err %v",
					fr.status, len(fr.data), err, tc.status, tc.n, tc.wantErr)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(encodeRequest(nil, []cid.Cid{sumCID(f, 1, cid.Raw, mh.SHA2_256, "a")}))
	f.Add([]byte{0})
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		cids, err := decodeRequest(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrMalformedRequest) {
				t.Fatalf("error %v does not match ErrMalformedRequest", err)
			}
			return
		}
		again, err := decodeRequest(bytes.NewReader(encodeRequest(nil, cids)))
		if err != nil || len(again) != len(cids) {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	writeBlockFrame(&b, []byte("hello"))
	f.Add(b.Bytes(), 5)
	f.Add([]byte{statusMissing}, -1)
	f.Add([]byte{statusError, 3, 'b', 'a', 'd'}, -1)
	f.Add([]byte{statusBlock, 0xff, 0xff, 0xff, 0xff, 0x0f}, -1)
	f.Fuzz(func(t *testing.T, in []byte, want int) {
		if want < -1 {
			want = -1
		}
		fr, err := readFrame(bufio.NewReader(bytes.NewReader(in)), want, nil)
		if err != nil {
			return
		}
		if fr.status == statusBlock && (len(fr.data) > MaxBlockSize || want >= 0 && len(fr.data) != want) {
			t.Fatalf("accepted a %d-byte block (want %d)", len(fr.data), want)
		}
		if fr.status == statusError && len(fr.data) > MaxErrorMessage {
			t.Fatalf("accepted a %d-byte error text", len(fr.data))
		}
	})
}

func FuzzDAGNode(f *testing.F) {
	data, _ := artifact(3*ChunkSize, 11)
	store := NewMemStore()
	root, err := Import(context.Background(), bytes.NewReader(data), store)
	if err != nil {
		f.Fatal(err)
	}
	node, err := store.Get(context.Background(), root)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(node, uint64(len(data)))
	f.Add([]byte{0x0a, 0x02, 0x08, 0x02}, uint64(0))
	f.Fuzz(func(t *testing.T, in []byte, size uint64) {
		kids, err := children(entry{c: root, size: size}, in)
		if err != nil {
			return
		}
		var sum uint64
		for _, k := range kids {
			sum += k.size
			if err := checkCIDShape(k.c); err != nil {
				t.Fatalf("accepted child %s: %v", k.c, err)
			}
		}
		if sum != size {
			t.Fatalf("children add up to %d, not %d", sum, size)
		}
	})
}

package overlay

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The decoders read bytes from any peer before anything is verified: they
// must never panic, and whatever they accept must re-encode to the same
// bytes (one encoding per value, so nothing is smuggled past a check).

func FuzzDecodeChain(f *testing.F) {
	f.Add(encodeChain(nil))
	f.Add(encodeChain([][]byte{[]byte("leaf"), []byte("zone CA")}))
	f.Add([]byte{wireVersion, 4})
	f.Add([]byte{2, 0})
	f.Add([]byte{wireVersion, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		chain, err := decodeChain(body)
		if err != nil {
			return
		}
		if len(chain) > MaxAuthChainCerts {
			t.Fatalf("accepted %d certificates", len(chain))
		}
		if again := encodeChain(chain); !bytes.Equal(again, body) {
			t.Fatalf("re-encoding differs:\n%x\n%x", body, again)
		}
	})
}

func FuzzDecodeSyncRequest(f *testing.F) {
	f.Add(encodeSyncRequest(syncRequest{Epoch: 7, Cursor: 3, MaxItems: 10, MaxBytes: 1 << 20}))
	f.Add(encodeSyncRequest(syncRequest{MaxItems: MaxSyncItems + 1, MaxBytes: 1}))
	f.Add([]byte{wireVersion})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeSyncRequest(body)
		if err != nil {
			return
		}
		if req.MaxItems < 1 || req.MaxItems > MaxSyncItems || req.MaxBytes < 1 || req.MaxBytes > MaxSyncBytes {
			t.Fatalf("accepted out-of-bounds request %+v", req)
		}
		if again := encodeSyncRequest(req); !bytes.Equal(again, body) {
			t.Fatalf("re-encoding differs:\n%x\n%x", body, again)
		}
	})
}

func FuzzDecodeSyncResponse(f *testing.F) {
	req := syncRequest{Epoch: 7, Cursor: 3, MaxItems: 4, MaxBytes: 64}
	f.Add(encodeSyncResponse(syncResponse{Epoch: 7, Head: 9, Items: []Item{
		{Seq: 4, Kind: KindAnnouncement, Data: []byte("a")}, {Seq: 9, Kind: KindCRL, Data: []byte("crl")},
	}}))
	f.Add(encodeSyncResponse(syncResponse{Epoch: 8, Head: 1, Items: []Item{{Seq: 1, Kind: KindPolicy, Data: []byte("p")}}}))
	f.Add(encodeSyncResponse(syncResponse{Epoch: 7, Head: 3}))
	f.Add(encodeSyncResponse(syncResponse{Epoch: 7, Head: 9, Items: []Item{{Seq: 2, Kind: KindHeartbeat, Data: []byte("old")}}}))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := decodeSyncResponse(body, req)
		if err != nil {
			return
		}
		if len(resp.Items) > req.MaxItems {
			t.Fatalf("accepted %d items, asked for %d", len(resp.Items), req.MaxItems)
		}
		last, size := req.Cursor, 0
		if resp.Epoch != req.Epoch {
			last = 0
		}
		for _, it := range resp.Items {
			size += len(it.Data)
			if it.Seq <= last || !it.Kind.Valid() || len(it.Data) == 0 {
				t.Fatalf("accepted bad item %+v after %d", it, last)
			}
			last = it.Seq
		}
		if size > req.MaxBytes || resp.Head < last {
			t.Fatalf("accepted %d bytes (asked %d), head %d before %d", size, req.MaxBytes, resp.Head, last)
		}
		if again := encodeSyncResponse(resp); !bytes.Equal(again, body) {
			t.Fatalf("re-encoding differs:\n%x\n%x", body, again)
		}
	})
}

func TestWireRoundTrip(t *testing.T) {
	chain := [][]byte{[]byte("leaf"), []byte("ca")}
	got, err := decodeChain(encodeChain(chain))
	if err != nil || !cmp.Equal(got, chain) {
		t.Errorf("chain round trip = %q, %v", got, err)
	}
	req := syncRequest{Epoch: 1, Cursor: 2, MaxItems: 3, MaxBytes: 4}
	if got, err := decodeSyncRequest(encodeSyncRequest(req)); err != nil || got != req {
		t.Errorf("request round trip = %+v, %v", got, err)
	}
	resp := syncResponse{Epoch: 1, Head: 5, Items: []Item{{Seq: 5, Kind: KindCRL, Data: []byte("x")}}}
	got2, err := decodeSyncResponse(encodeSyncResponse(resp), syncRequest{Epoch: 1, Cursor: 2, MaxItems: 3, MaxBytes: 4})
	if err != nil || !cmp.Equal(got2, resp) {
		t.Errorf("response round trip = %+v, %v", got2, err)
	}
}

func TestWireRejects(t *testing.T) {
	req := syncRequest{Epoch: 1, Cursor: 5, MaxItems: 2, MaxBytes: 10}
	tests := []struct {
		name string
		err  error
	}{
		{"chain: wrong version", func() error { _, err := decodeChain([]byte{9, 0}); return err }()},
		{"chain: too many", func() error { _, err := decodeChain(encodeChain(make([][]byte, 4))); return err }()},
		{"chain: empty certificate", func() error { _, err := decodeChain(encodeChain([][]byte{{}})); return err }()},
		{"chain: trailing bytes", func() error { _, err := decodeChain(append(encodeChain(nil), 0)); return err }()},
		{"request: zero items", func() error { _, err := decodeSyncRequest(encodeSyncRequest(syncRequest{MaxBytes: 1})); return err }()},
		{"response: too many items", func() error {
			_, err := decodeSyncResponse(encodeSyncResponse(syncResponse{Epoch: 1, Head: 9, Items: []Item{
				{Seq: 6, Kind: 1, Data: []byte("a")}, {Seq: 7, Kind: 1, Data: []byte("b")}, {Seq: 8, Kind: 1, Data: []byte("c")}}}), req)
			return err
		}()},
		{"response: replayed sequence", func() error {
			_, err := decodeSyncResponse(encodeSyncResponse(syncResponse{Epoch: 1, Head: 9, Items: []Item{{Seq: 5, Kind: 1, Data: []byte("a")}}}), req)
			return err
		}()},
		{"response: too many bytes", func() error {
			_, err := decodeSyncResponse(encodeSyncResponse(syncResponse{Epoch: 1, Head: 9, Items: []Item{{Seq: 6, Kind: 1, Data: make([]byte, 11)}}}), req)
			return err
		}()},
		{"response: unknown kind", func() error {
			_, err := decodeSyncResponse(encodeSyncResponse(syncResponse{Epoch: 1, Head: 9, Items: []Item{{Seq: 6, Kind: 77, Data: []byte("a")}}}), req)
			return err
		}()},
		{"response: head before items", func() error {
			_, err := decodeSyncResponse(encodeSyncResponse(syncResponse{Epoch: 1, Head: 5, Items: []Item{{Seq: 6, Kind: 1, Data: []byte("a")}}}), req)
			return err
		}()},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

package overlay

import (
	"encoding/binary"
	"fmt"
)

// syncRequest asks for the items after Cursor in the store with Epoch.
type syncRequest struct {
	Epoch    uint64
	Cursor   uint64
	MaxItems int
	MaxBytes int
}

// syncResponse carries items in ascending sequence order.
type syncResponse struct {
	Epoch uint64 // the serving store's epoch
	Head  uint64 // its highest sequence: more items wait if Head > last
	Items []Item
}

// maxSyncRequestBytes caps a request frame.
const maxSyncRequestBytes = 64

func encodeSyncRequest(r syncRequest) []byte {
	out := []byte{wireVersion}
	out = binary.BigEndian.AppendUint64(out, r.Epoch)
	out = binary.BigEndian.AppendUint64(out, r.Cursor)
	out = binary.AppendUvarint(out, uint64(r.MaxItems))
	return binary.AppendUvarint(out, uint64(r.MaxBytes))
}

func decodeSyncRequest(body []byte) (syncRequest, error) {
	d := &decoder{buf: body}
	d.version()
	r := syncRequest{Epoch: d.uint64(), Cursor: d.uint64()}
	items, size := d.uvarint(), d.uvarint()
	if d.err == nil && (items < 1 || items > MaxSyncItems || size < 1 || size > MaxSyncBytes) {
		d.fail("asks for %d items, %d bytes: want 1 to %d items, 1 to %d bytes", items, size, MaxSyncItems, MaxSyncBytes)
	}
	if err := d.finish(); err != nil {
		return syncRequest{}, fmt.Errorf("decoding sync request: %w", err)
	}
	r.MaxItems, r.MaxBytes = int(items), int(size)
	return r, nil
}

// syncResponseLimit is the largest response frame a request may get.
func syncResponseLimit(req syncRequest) int {
	return req.MaxBytes + req.MaxItems*(1+2*binary.MaxVarintLen64) + 32
}

func encodeSyncResponse(r syncResponse) []byte {
	out := []byte{wireVersion}
	out = binary.BigEndian.AppendUint64(out, r.Epoch)
	out = binary.BigEndian.AppendUint64(out, r.Head)
	out = binary.AppendUvarint(out, uint64(len(r.Items)))
	for _, it := range r.Items {
		out = append(out, byte(it.Kind))
		out = binary.AppendUvarint(out, it.Seq)
		out = binary.AppendUvarint(out, uint64(len(it.Data)))
		out = append(out, it.Data...)
	}
	return out
}

// decodeSyncResponse parses a response and checks it against the request:
// no more items or bytes than asked for, known kinds, sequences ascending
// and after the cursor (or after 0 when the server's epoch is new to us).
func decodeSyncResponse(body []byte, req syncRequest) (syncResponse, error) {
	d := &decoder{buf: body}
	d.version()
	r := syncResponse{Epoch: d.uint64(), Head: d.uint64()}
	n := d.uvarint()
	if d.err == nil && n > uint64(req.MaxItems) {
		d.fail("%d items, asked for at most %d", n, req.MaxItems)
	}
	last := req.Cursor
	if r.Epoch != req.Epoch {
		last = 0
	}
	total := 0
	for i := uint64(0); d.err == nil && i < n; i++ {
		it := Item{Kind: Kind(d.byte()), Seq: d.uvarint()}
		it.Data = d.bytes(MaxItemBytes)
		total += len(it.Data)
		switch {
		case d.err != nil:
		case !it.Kind.Valid():
			d.fail("item %d: unknown kind %d", i, it.Kind)
		case it.Seq <= last:
			d.fail("item %d: sequence %d not after %d", i, it.Seq, last)
		case len(it.Data) == 0:
			d.fail("item %d: empty", i)
		case total > req.MaxBytes:
			d.fail("items exceed the %d bytes asked for", req.MaxBytes)
		}
		last = it.Seq
		r.Items = append(r.Items, it)
	}
	if d.err == nil && r.Head < last {
		d.fail("head %d before last item %d", r.Head, last)
	}
	if err := d.finish(); err != nil {
		return syncResponse{}, fmt.Errorf("decoding sync response: %w", err)
	}
	return r, nil
}

package content

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
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
		{"busy, oversized hints", binary.AppendUvarint([]byte{statusBusy}, MaxBusyIDsFrame+1), 10, 0, 0, ErrEndlessData},
		{"busy with addresses", []byte{statusBusyAddrs, 0}, 10, statusBusyAddrs, 0, nil},
		{"busy with addresses, oversized", binary.AppendUvarint([]byte{statusBusyAddrs}, MaxBusyFrame+1), 10, 0, 0, ErrEndlessData},
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
	hints := []busyHint{{testPeerID(f, 1), addrs(f, "/ip4/192.0.2.1/tcp/4001")}}
	f.Add(busyFrame(f, hints, true), -1)
	f.Add(busyFrame(f, hints, false), -1)
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
		if fr.status == statusBusy || fr.status == statusBusyAddrs {
			hints, err := decodeBusyBody(fr.data, fr.status == statusBusyAddrs)
			if err != nil && !errors.Is(err, ErrMalformedBusy) {
				t.Fatalf("busy frame error %v does not match ErrMalformedBusy", err)
			}
			if len(hints) > MaxBusyHints {
				t.Fatalf("accepted %d hints", len(hints))
			}
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

// testPeerID returns a deterministic ed25519 peer ID.
func testPeerID(tb testing.TB, seed byte) peer.ID {
	tb.Helper()
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// addrs parses multiaddrs.
func addrs(tb testing.TB, ss ...string) []ma.Multiaddr {
	tb.Helper()
	var out []ma.Multiaddr
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// busyFrame encodes hints as a whole frame, status included.
func busyFrame(tb testing.TB, hints []busyHint, withAddrs bool) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := writeBusyFrame(&b, hints, withAddrs); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestBusyFrameRoundTrip(t *testing.T) {
	p1, p2 := testPeerID(t, 1), testPeerID(t, 2)
	tcp4 := addrs(t, "/ip4/192.0.2.1/tcp/4001")
	both := addrs(t, "/ip4/192.0.2.1/tcp/4001", "/ip6/2001:db8::1/udp/4001/quic-v1")
	long := addrs(t, "/dns4/"+strings.Repeat("a", MaxBusyHintAddrLen)+"/tcp/1")
	many := addrs(t, "/ip4/192.0.2.1/tcp/1", "/ip4/192.0.2.1/tcp/2", "/ip4/192.0.2.1/tcp/3",
		"/ip4/192.0.2.1/tcp/4", "/ip4/192.0.2.1/tcp/5")
	var tooMany, first []busyHint
	for i := range MaxBusyHints + 2 {
		h := busyHint{ID: testPeerID(t, byte(10+i)), Addrs: tcp4}
		tooMany = append(tooMany, h)
		if i < MaxBusyHints {
			first = append(first, h)
		}
	}
	for _, tc := range []struct {
		name      string
		in        []busyHint
		withAddrs bool
		want      []busyHint
	}{
		{"none", nil, true, nil},
		{"addresses", []busyHint{{p1, both}, {p2, tcp4}}, true, []busyHint{{p1, both}, {p2, tcp4}}},
		{"a hint without addresses", []busyHint{{p1, nil}, {p2, tcp4}}, true, []busyHint{{p1, nil}, {p2, tcp4}}},
		{"IDs only for 1.0.0", []busyHint{{p1, both}, {p2, tcp4}}, false, []busyHint{{p1, nil}, {p2, nil}}},
		{"oversized ID left out", []busyHint{{peer.ID(strings.Repeat("x", MaxPeerIDLen+1)), tcp4}, {p1, tcp4}}, true, []busyHint{{p1, tcp4}}},
		{"oversized address left out", []busyHint{{p1, append(long, tcp4...)}}, true, []busyHint{{p1, tcp4}}},
		{"addresses cut at MaxBusyHintAddrs", []busyHint{{p1, many}}, true, []busyHint{{p1, many[:MaxBusyHintAddrs]}}},
		{"hints cut at MaxBusyHints", tooMany, true, first},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr, err := readFrame(bufio.NewReader(bytes.NewReader(busyFrame(t, tc.in, tc.withAddrs))), -1, nil)
			if err != nil {
				t.Fatalf("readFrame: %v", err)
			}
			if want := map[bool]byte{true: statusBusyAddrs, false: statusBusy}[tc.withAddrs]; fr.status != want {
				t.Fatalf("status %d, want %d", fr.status, want)
			}
			got, err := decodeBusyBody(fr.data, fr.status == statusBusyAddrs)
			if err != nil {
				t.Fatalf("decodeBusyBody: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("hints (-want +got):\n%s", diff)
			}
		})
	}
}

// The largest frame the encoder can make is the bound readFrame applies.
func TestBusyFrameBound(t *testing.T) {
	var hints []busyHint
	for i := range MaxBusyHints {
		id := peer.ID(append([]byte{0, MaxPeerIDLen - 2}, bytes.Repeat([]byte{byte(i)}, MaxPeerIDLen-2)...))
		var as []ma.Multiaddr
		for j := range MaxBusyHintAddrs {
			// /dns4 (1 byte), name length (1), name, /tcp/1 (3).
			name := fmt.Sprintf("%d%s", j, strings.Repeat("a", MaxBusyHintAddrLen-6))
			as = append(as, addrs(t, "/dns4/"+name+"/tcp/1")...)
			if n := len(as[j].Bytes()); n != MaxBusyHintAddrLen {
				t.Fatalf("test address of %d bytes, want %d", n, MaxBusyHintAddrLen)
			}
		}
		hints = append(hints, busyHint{id, as})
	}
	for _, withAddrs := range []bool{false, true} {
		body := encodeBusyBody(nil, hints, withAddrs)
		limit := map[bool]int{false: MaxBusyIDsFrame, true: MaxBusyFrame}[withAddrs]
		if len(body) != limit {
			t.Errorf("withAddrs %v: largest body %d bytes, bound %d", withAddrs, len(body), limit)
		}
	}
}

func TestDecodeBusyBodyRejects(t *testing.T) {
	id := []byte(testPeerID(t, 1))
	hint := func(id []byte, rest ...byte) []byte {
		return append(append(binary.AppendUvarint(nil, uint64(len(id))), id...), rest...)
	}
	addr := addrs(t, "/ip4/192.0.2.1/tcp/1")[0].Bytes()
	withAddr := func(a []byte) []byte {
		return hint(id, append(binary.AppendUvarint([]byte{1}, uint64(len(a))), a...)...)
	}
	var tooMany []byte
	for range MaxBusyHints + 1 {
		tooMany = append(tooMany, hint(id, 0)...)
	}
	for _, tc := range []struct {
		name      string
		body      []byte
		withAddrs bool
		says      string // the error names the fault
	}{
		{"overlong length", bytes.Repeat([]byte{0xff}, 11), false, "overlong length"},
		{"zero-length ID", []byte{0}, false, "hint 0: peer ID: field of 0 bytes"},
		{"oversized ID", hint(make([]byte, MaxPeerIDLen+1)), false, "field of 65 bytes (1..64 allowed)"},
		{"truncated ID", hint(id)[:10], false, "field of 38 bytes truncated at 9"},
		{"too many hints", tooMany, true, "more than 8 hints"},
		{"missing address count", hint(id), true, "hint 0: address count: truncated"},
		{"too many addresses", hint(id, MaxBusyHintAddrs+1), true, "hint 0: 5 addresses (at most 4)"},
		{"oversized address", withAddr(make([]byte, MaxBusyHintAddrLen+1)), true, "address 0: field of 129 bytes (1..128 allowed)"},
		{"zero-length address", hint(id, 1, 0), true, "address 0: field of 0 bytes"},
		{"truncated address", withAddr(addr)[:len(withAddr(addr))-2], true, "address 0: field of 8 bytes truncated at 6"},
		{"second hint truncated", append(hint(id, 0), 5, 1), true, "hint 1: peer ID: field of 5 bytes truncated at 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeBusyBody(tc.body, tc.withAddrs)
			if !errors.Is(err, ErrMalformedBusy) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("decodeBusyBody = %v, %v; want ErrMalformedBusy saying %q", got, err, tc.says)
			}
		})
	}
}

// Well-framed fields that do not decode are dropped, the rest kept.
func TestDecodeBusyBodyDrops(t *testing.T) {
	p1, p2 := testPeerID(t, 1), testPeerID(t, 2)
	good := addrs(t, "/ip4/192.0.2.1/tcp/1")
	var body []byte
	entry := func(id []byte, as ...[]byte) {
		body = binary.AppendUvarint(body, uint64(len(id)))
		body = append(body, id...)
		body = binary.AppendUvarint(body, uint64(len(as)))
		for _, a := range as {
			body = binary.AppendUvarint(body, uint64(len(a)))
			body = append(body, a...)
		}
	}
	entry([]byte(p1), []byte{0xff, 0xff, 0x03, 1}, good[0].Bytes()) // an unknown protocol code
	entry([]byte("not a peer ID"), good[0].Bytes())
	entry([]byte(p2), []byte{0x04, 1, 2}) // /ip4 cut short
	got, err := decodeBusyBody(body, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]busyHint{{p1, good}, {p2, nil}}, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("hints (-want +got):\n%s", diff)
	}
}

func FuzzBusyBody(f *testing.F) {
	hints := []busyHint{{testPeerID(f, 1), addrs(f, "/ip4/192.0.2.1/tcp/4001", "/ip6/::1/udp/1/quic-v1")}, {testPeerID(f, 2), nil}}
	f.Add(encodeBusyBody(nil, hints, true), true)
	f.Add(encodeBusyBody(nil, hints, false), false)
	f.Add([]byte{38}, true)
	f.Add([]byte{1, 0, 0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, body []byte, withAddrs bool) {
		got, err := decodeBusyBody(body, withAddrs)
		if err != nil {
			if !errors.Is(err, ErrMalformedBusy) {
				t.Fatalf("error %v does not match ErrMalformedBusy", err)
			}
			return
		}
		if len(got) > MaxBusyHints {
			t.Fatalf("%d hints accepted", len(got))
		}
		for _, h := range got {
			if len(h.Addrs) > MaxBusyHintAddrs || !withAddrs && len(h.Addrs) > 0 {
				t.Fatalf("%d addresses accepted (withAddrs %v)", len(h.Addrs), withAddrs)
			}
		}
		again, err := decodeBusyBody(encodeBusyBody(nil, got, withAddrs), withAddrs)
		if err != nil {
			t.Fatalf("re-encoded hints do not decode: %v", err)
		}
		if diff := cmp.Diff(got, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

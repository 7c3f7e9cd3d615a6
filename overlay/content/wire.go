package content

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multicodec"
	mh "github.com/multiformats/go-multihash"
)

// ProtocolID is the block transfer protocol. One stream carries one request
// (a list of CIDs) and its response (one frame per CID, in request order).
//
// Request:  uvarint n (1..MaxBlocksPerRequest), then n × (uvarint len, CID).
// Response: per CID, a status byte, then
//
//	statusBlock:     uvarint len (≤ MaxBlockSize), the block's bytes
//	statusMissing:   nothing (this provider does not hold the block)
//	statusError:     uvarint len (≤ MaxErrorMessage), UTF-8 text; the stream ends
//	statusBusy:      uvarint len (≤ MaxBusyIDsFrame), then up to MaxBusyHints ×
//	                 (uvarint len, peer ID): peers it served a whole copy;
//	                 the stream ends. The provider holds the block but has
//	                 spent its serve budget for the artifact (it seeded it):
//	                 ask others, those first. Not a fault of the provider.
//	statusBusyAddrs: as statusBusy, but uvarint len (≤ MaxBusyFrame), and
//	                 each hint is (uvarint len, peer ID, uvarint n
//	                 (0..MaxBusyHintAddrs), n × (uvarint len (1..
//	                 MaxBusyHintAddrLen), binary multiaddr)): the fetcher
//	                 dials the copy holders at once instead of looking
//	                 their addresses up in the DHT.
//
// Compatibility: 1.1.0 adds statusBusyAddrs and is otherwise 1.0.0. The
// addresses could not be an optional trailing part of the 1.0.0 busy frame:
// a 1.0.0 client refuses a busy body over MaxBusyIDsFrame as endless data
// (trust.ErrUntrusted) and an unknown status as malformed, so it would drop,
// or even blame, an honest seeder. Hence a version: a server handles both
// (ProtocolIDv1 streams get statusBusy, ProtocolID streams statusBusyAddrs)
// and a client asks for ProtocolID first and ProtocolIDv1 second, and
// decodes both busy frames, so old and new nodes mix in one zone.
const ProtocolID = "/patchnet/content/1.1.0"

// ProtocolIDv1 is the protocol's first version, whose busy frames name
// peers without addresses: served for, and asked of, nodes not yet
// upgraded.
const ProtocolIDv1 = "/patchnet/content/1.0.0"

// Response frame statuses.
const (
	statusBlock   byte = 0
	statusMissing byte = 1
	statusError   byte = 2
	statusBusy    byte = 3
	// statusBusyAddrs is sent on ProtocolID streams only.
	statusBusyAddrs byte = 4
)

// encodeRequest appends the request for cids to dst.
func encodeRequest(dst []byte, cids []cid.Cid) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(cids)))
	for _, c := range cids {
		b := c.Bytes()
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	return dst
}

// decodeRequest reads one request. Only CIDs this package could have made
// are accepted: CIDv1, sha2-256, raw or dag-pb.
func decodeRequest(r io.ByteReader) ([]cid.Cid, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("reading request count: %w: %w", ErrMalformedRequest, err)
	}
	if n == 0 || n > MaxBlocksPerRequest {
		return nil, fmt.Errorf("request for %d blocks (1..%d allowed): %w", n, MaxBlocksPerRequest, ErrMalformedRequest)
	}
	cids := make([]cid.Cid, 0, n)
	for i := range n {
		c, err := readCID(r)
		if err != nil {
			return nil, fmt.Errorf("reading CID %d of request: %w", i, err)
		}
		cids = append(cids, c)
	}
	return cids, nil
}

// readCID reads one length-prefixed CID and checks it is acceptable.
func readCID(r io.ByteReader) (cid.Cid, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %w", ErrMalformedRequest, err)
	}
	if l == 0 || l > MaxCIDLen {
		return cid.Undef, fmt.Errorf("CID of %d bytes (1..%d allowed): %w", l, MaxCIDLen, ErrMalformedRequest)
	}
	b := make([]byte, l)
	for i := range b {
		if b[i], err = r.ReadByte(); err != nil {
			return cid.Undef, fmt.Errorf("%w: truncated CID: %w", ErrMalformedRequest, err)
		}
	}
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %w", ErrMalformedRequest, err)
	}
	if err := checkCIDShape(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}

// checkCIDShape accepts only CIDs of the shape Import produces, so no peer
// can make the other hash a weaker or an identity "hash".
func checkCIDShape(c cid.Cid) error {
	p := c.Prefix()
	codec := multicodec.Code(p.Codec)
	switch {
	case p.Version != 1:
		return fmt.Errorf("CID %s is not version 1: %w", c, ErrMalformedRequest)
	case p.MhType != mh.SHA2_256 || p.MhLength != 32:
		return fmt.Errorf("CID %s is not sha2-256: %w", c, ErrMalformedRequest)
	case codec != multicodec.Raw && codec != multicodec.DagPb:
		return fmt.Errorf("CID %s has codec %s, want raw or dag-pb: %w", c, codec, ErrMalformedRequest)
	}
	return nil
}

// writeBlockFrame writes a block frame.
func writeBlockFrame(w io.Writer, data []byte) error {
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = statusBlock
	n := binary.PutUvarint(hdr[1:], uint64(len(data)))
	if _, err := w.Write(hdr[:1+n]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// writeMissingFrame writes a "not held" frame.
func writeMissingFrame(w io.Writer) error {
	_, err := w.Write([]byte{statusMissing})
	return err
}

// busyHint is one peer a busy frame names, with addresses to dial it at.
type busyHint struct {
	ID    peer.ID
	Addrs []ma.Multiaddr
}

// writeBusyFrame writes a "serve budget spent, ask others" frame naming
// hints, peers that hold a copy: with their addresses (statusBusyAddrs)
// when withAddrs, else their IDs only (statusBusy, for 1.0.0 peers).
func writeBusyFrame(w io.Writer, hints []busyHint, withAddrs bool) error {
	status := statusBusy
	if withAddrs {
		status = statusBusyAddrs
	}
	body := encodeBusyBody(nil, hints, withAddrs)
	b := append([]byte{status}, binary.AppendUvarint(nil, uint64(len(body)))...)
	_, err := w.Write(append(b, body...))
	return err
}

// encodeBusyBody appends up to MaxBusyHints hints to dst. An ID or address
// over its bound is left out, as are addresses past MaxBusyHintAddrs, so
// the body always fits its frame's bound.
func encodeBusyBody(dst []byte, hints []busyHint, withAddrs bool) []byte {
	n := 0
	for _, h := range hints {
		id := []byte(h.ID)
		if n == MaxBusyHints {
			break
		}
		if len(id) == 0 || len(id) > MaxPeerIDLen {
			continue
		}
		n++
		dst = binary.AppendUvarint(dst, uint64(len(id)))
		dst = append(dst, id...)
		if !withAddrs {
			continue
		}
		var addrs [][]byte
		for _, a := range h.Addrs {
			if b := a.Bytes(); len(b) > 0 && len(b) <= MaxBusyHintAddrLen && len(addrs) < MaxBusyHintAddrs {
				addrs = append(addrs, b)
			}
		}
		dst = binary.AppendUvarint(dst, uint64(len(addrs)))
		for _, b := range addrs {
			dst = binary.AppendUvarint(dst, uint64(len(b)))
			dst = append(dst, b...)
		}
	}
	return dst
}

// decodeBusyBody decodes a busy frame's hints (with addresses when
// withAddrs: statusBusyAddrs). The body comes off the wire: a structural
// fault (a length out of bounds, too many hints or addresses, a truncated
// field) fails the whole frame with an error naming it, matching
// ErrMalformedBusy. A well-framed field that does not decode is dropped: a
// hint whose ID is no peer ID, an address that is no multiaddr.
func decodeBusyBody(body []byte, withAddrs bool) ([]busyHint, error) {
	r := busyReader{b: body}
	var out []busyHint
	for i := 0; len(r.b) > 0; i++ {
		if i == MaxBusyHints {
			return nil, fmt.Errorf("more than %d hints: %w", MaxBusyHints, ErrMalformedBusy)
		}
		raw, err := r.field(MaxPeerIDLen)
		if err != nil {
			return nil, fmt.Errorf("hint %d: peer ID: %w", i, err)
		}
		id, idErr := peer.IDFromBytes(raw)
		h := busyHint{ID: id}
		if withAddrs {
			if h.Addrs, err = r.addrs(); err != nil {
				return nil, fmt.Errorf("hint %d: %w", i, err)
			}
		}
		if idErr == nil {
			out = append(out, h)
		}
	}
	return out, nil
}

// busyReader reads a busy frame's body field by field.
type busyReader struct{ b []byte }

// uvarint reads one uvarint.
func (r *busyReader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, fmt.Errorf("truncated or overlong length: %w", ErrMalformedBusy)
	}
	r.b = r.b[n:]
	return v, nil
}

// field reads one length-prefixed field of 1..limit bytes.
func (r *busyReader) field(limit int) ([]byte, error) {
	l, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if l == 0 || l > uint64(limit) {
		return nil, fmt.Errorf("field of %d bytes (1..%d allowed): %w", l, limit, ErrMalformedBusy)
	}
	if l > uint64(len(r.b)) {
		return nil, fmt.Errorf("field of %d bytes truncated at %d: %w", l, len(r.b), ErrMalformedBusy)
	}
	f := r.b[:l]
	r.b = r.b[l:]
	return f, nil
}

// addrs reads one hint's address count and addresses, dropping those that
// are not multiaddrs.
func (r *busyReader) addrs() ([]ma.Multiaddr, error) {
	n, err := r.uvarint()
	if err != nil {
		return nil, fmt.Errorf("address count: %w", err)
	}
	if n > MaxBusyHintAddrs {
		return nil, fmt.Errorf("%d addresses (at most %d): %w", n, MaxBusyHintAddrs, ErrMalformedBusy)
	}
	var out []ma.Multiaddr
	for j := range n {
		raw, err := r.field(MaxBusyHintAddrLen)
		if err != nil {
			return nil, fmt.Errorf("address %d: %w", j, err)
		}
		a, err := ma.NewMultiaddrBytes(raw)
		if err != nil || len(a.Bytes()) == 0 || len(a.Bytes()) > MaxBusyHintAddrLen {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// writeErrorFrame writes an error frame; msg is cut to MaxErrorMessage.
func writeErrorFrame(w io.Writer, msg string) error {
	if len(msg) > MaxErrorMessage {
		msg = msg[:MaxErrorMessage]
	}
	b := append([]byte{statusError}, binary.AppendUvarint(nil, uint64(len(msg)))...)
	_, err := w.Write(append(b, msg...))
	return err
}

// frame is one decoded response frame. For statusBlock, data holds the
// block; for statusError, the remote's message.
type frame struct {
	status byte
	data   []byte
}

// errFrameLength reports a frame longer than its bound: the peer is sending
// endless data.
var errFrameLength = errors.New("frame length out of bounds")

// readFrame reads one response frame. want is the expected block length
// (-1 if unknown); a block frame of any other length is refused before its
// bytes are read. buf is reused for the block's bytes when large enough.
func readFrame(r *bufio.Reader, want int, buf []byte) (frame, error) {
	status, err := r.ReadByte()
	if err != nil {
		return frame{}, err
	}
	switch status {
	case statusMissing:
		return frame{status: status}, nil
	case statusBusy:
		return readFrameBody(r, status, MaxBusyIDsFrame, -1, nil)
	case statusBusyAddrs:
		return readFrameBody(r, status, MaxBusyFrame, -1, nil)
	case statusBlock:
		return readFrameBody(r, status, MaxBlockSize, want, buf)
	case statusError:
		return readFrameBody(r, status, MaxErrorMessage, -1, nil)
	}
	return frame{}, fmt.Errorf("unknown frame status %d: %w", status, ErrMalformedRequest)
}

func readFrameBody(r *bufio.Reader, status byte, limit, want int, buf []byte) (frame, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return frame{}, fmt.Errorf("reading frame length: %w", unexpected(err))
	}
	if l > uint64(limit) {
		return frame{}, fmt.Errorf("frame of %d bytes (limit %d): %w: %w", l, limit, ErrEndlessData, errFrameLength)
	}
	if want >= 0 && l != uint64(want) {
		return frame{}, fmt.Errorf("block of %d bytes where the DAG says %d: %w", l, want, ErrSizeMismatch)
	}
	if uint64(cap(buf)) < l {
		buf = make([]byte, l)
	}
	buf = buf[:l]
	if _, err := io.ReadFull(r, buf); err != nil {
		return frame{}, fmt.Errorf("reading %d-byte frame: %w", l, unexpected(err))
	}
	return frame{status: status, data: buf}, nil
}

// unexpected turns a clean EOF mid-frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

package content

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multicodec"
	mh "github.com/multiformats/go-multihash"
)

// ProtocolID is the block transfer protocol. One stream carries one request
// (a list of CIDs) and its response (one frame per CID, in request order).
//
// Request:  uvarint n (1..MaxBlocksPerRequest), then n × (uvarint len, CID).
// Response: per CID, a status byte, then
//
//	statusBlock:   uvarint len (≤ MaxBlockSize), the block's bytes
//	statusMissing: nothing (this provider does not hold the block)
//	statusError:   uvarint len (≤ MaxErrorMessage), UTF-8 text; the stream ends
//	statusBusy:    uvarint len (≤ MaxBusyFrame), then up to MaxBusyHints ×
//	               (uvarint len, peer ID): peers it served a whole copy;
//	               the stream ends. The provider holds the block but has
//	               spent its serve budget for the artifact (it seeded it):
//	               ask others, those first. Not a fault of the provider.
const ProtocolID = "/patchnet/content/1.0.0"

// Response frame statuses.
const (
	statusBlock   byte = 0
	statusMissing byte = 1
	statusError   byte = 2
	statusBusy    byte = 3
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

// writeBusyFrame writes a "serve budget spent, ask others" frame naming
// hints, peers that hold a copy.
func writeBusyFrame(w io.Writer, hints []peer.ID) error {
	var body []byte
	for _, p := range hints[:min(len(hints), MaxBusyHints)] {
		b := []byte(p)
		if len(b) > MaxPeerIDLen {
			continue
		}
		body = binary.AppendUvarint(body, uint64(len(b)))
		body = append(body, b...)
	}
	b := append([]byte{statusBusy}, binary.AppendUvarint(nil, uint64(len(body)))...)
	_, err := w.Write(append(b, body...))
	return err
}

// parseHints decodes a busy frame's peers; a malformed rest is ignored (the
// hints are only suggestions, and every block is verified anyway).
func parseHints(body []byte) []peer.ID {
	var out []peer.ID
	for len(body) > 0 && len(out) < MaxBusyHints {
		l, n := binary.Uvarint(body)
		if n <= 0 || l == 0 || l > uint64(len(body)-n) {
			break
		}
		p, err := peer.IDFromBytes(body[n : n+int(l)])
		body = body[n+int(l):]
		if err == nil {
			out = append(out, p)
		}
	}
	return out
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

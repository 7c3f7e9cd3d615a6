package overlay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire formats of patchnet's own stream protocols. Every frame is a uvarint
// length followed by that many bytes, and every length is checked against a
// bound before anything is allocated.

// ErrMalformedFrame is returned for bytes that are not a valid frame.
var ErrMalformedFrame = errors.New("malformed frame")

// wireVersion is the first byte of every frame body.
const wireVersion = 1

// writeFrame writes one length-prefixed frame.
func writeFrame(w io.Writer, body []byte) error {
	buf := binary.AppendUvarint(make([]byte, 0, len(body)+binary.MaxVarintLen64), uint64(len(body)))
	_, err := w.Write(append(buf, body...))
	return err
}

// readFrame reads one frame of at most limit bytes.
func readFrame(r *bufio.Reader, limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("reading frame length: %w", err)
	}
	if n == 0 || n > uint64(limit) {
		return nil, fmt.Errorf("%w: length %d, want 1 to %d", ErrMalformedFrame, n, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("reading %d-byte frame: %w", n, err)
	}
	return body, nil
}

// decoder walks a frame body; the first error sticks.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformedFrame}, args...)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.buf) < 1 {
		d.fail("truncated")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if n != uvarintLen(v) {
		d.fail("overlong varint") // one encoding per value
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil || len(d.buf) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.buf)
	d.buf = d.buf[8:]
	return v
}

// bytes reads a uvarint-prefixed byte string of at most limit bytes.
func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) || n > uint64(len(d.buf)) {
		d.fail("%d-byte field, limit %d, %d left", n, limit, len(d.buf))
		return nil
	}
	b := append([]byte(nil), d.buf[:n]...)
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) version() {
	if v := d.byte(); d.err == nil && v != wireVersion {
		d.fail("version %d, want %d", v, wireVersion)
	}
}

// finish reports the first error, or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	return d.err
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// encodeChain renders an auth message: version, count, DER certificates.
func encodeChain(chain [][]byte) []byte {
	out := []byte{wireVersion}
	out = binary.AppendUvarint(out, uint64(len(chain)))
	for _, der := range chain {
		out = binary.AppendUvarint(out, uint64(len(der)))
		out = append(out, der...)
	}
	return out
}

// decodeChain parses an auth message. An empty chain is valid: the peer
// has no certificate to present.
func decodeChain(body []byte) ([][]byte, error) {
	d := &decoder{buf: body}
	d.version()
	n := d.uvarint()
	if d.err == nil && n > MaxAuthChainCerts {
		d.fail("%d certificates, at most %d", n, MaxAuthChainCerts)
	}
	var chain [][]byte
	for i := uint64(0); d.err == nil && i < n; i++ {
		der := d.bytes(maxCertBytes)
		if d.err == nil && len(der) == 0 {
			d.fail("empty certificate %d", i)
		}
		chain = append(chain, der)
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("decoding certificate chain: %w", err)
	}
	return chain, nil
}

package sim

import (
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// socket is a node's UDP socket on the fabric: the net.PacketConn its QUIC
// transport reads and writes.
type socket struct {
	f     *fabric
	pt    *port
	inbox chan datagram

	closeOnce sync.Once
	closed    chan struct{}

	mu       sync.Mutex
	deadline time.Time     // for reads; zero: none
	changed  chan struct{} // capacity 1: the read deadline changed
}

// datagram is one received datagram.
type datagram struct {
	from *net.UDPAddr
	b    []byte
}

var _ net.PacketConn = (*socket)(nil)

func newSocket(f *fabric, pt *port) *socket {
	return &socket{f: f, pt: pt, inbox: make(chan datagram, socketQueue),
		closed: make(chan struct{}), changed: make(chan struct{}, 1)}
}

// receive hands a datagram to the socket's reader, waiting while its queue
// is full (as a kernel's socket buffer makes the link wait, here only this
// node's); a closed socket drops it.
func (s *socket) receive(from *net.UDPAddr, b []byte) {
	select {
	case s.inbox <- datagram{from: from, b: b}:
	case <-s.closed:
	case <-s.f.closing:
	}
}

// ReadFrom returns the next datagram, truncated to p as recvfrom does.
func (s *socket) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err, again := s.readOnce(p)
		if !again {
			return n, from, err
		}
	}
}

// readOnce waits for a datagram until the read deadline; again means the
// deadline changed while it waited.
func (s *socket) readOnce(p []byte) (n int, from net.Addr, err error, again bool) {
	s.mu.Lock()
	deadline := s.deadline
	s.mu.Unlock()
	var expired <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return 0, nil, os.ErrDeadlineExceeded, false
		}
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	select {
	case d := <-s.inbox:
		return copy(p, d.b), d.from, nil, false
	case <-s.closed:
		return 0, nil, net.ErrClosed, false
	case <-s.f.closing:
		return 0, nil, net.ErrClosed, false
	case <-expired:
		return 0, nil, os.ErrDeadlineExceeded, false
	case <-s.changed:
		return 0, nil, nil, true
	}
}

// WriteTo sends a copy of p to addr. It never blocks: a datagram a full
// link buffer has no room for is lost, as UDP's are.
func (s *socket) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-s.closed:
		return 0, net.ErrClosed
	default:
	}
	s.f.send(s.pt, addr, slices.Clone(p))
	return len(p), nil
}

// Close ends the socket's reads and writes.
func (s *socket) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// LocalAddr is the socket's address on the fabric.
func (s *socket) LocalAddr() net.Addr { return s.pt.addr }

// SetDeadline sets the read deadline (writes never block).
func (s *socket) SetDeadline(t time.Time) error { return s.SetReadDeadline(t) }

// SetReadDeadline sets when a waiting ReadFrom gives up, including one
// already waiting.
func (s *socket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline does nothing: writes never block.
func (s *socket) SetWriteDeadline(time.Time) error { return nil }

// SetReadBuffer accepts any size: quic-go asks for a larger buffer and
// warns if a socket refuses.
func (s *socket) SetReadBuffer(int) error { return nil }

// SetWriteBuffer accepts any size, as SetReadBuffer.
func (s *socket) SetWriteBuffer(int) error { return nil }

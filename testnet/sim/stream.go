package sim

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// errStreamReset is what a write to a stream whose other end closed
// returns, as a TCP socket's write after the peer's reset does.
var errStreamReset = errors.New("sim stream: connection reset by peer")

// streamEnd is one end of a reliable, ordered byte stream between two
// ports of the fabric: the connection the tcp transport (tcp.go) hands
// libp2p's upgrader, as a kernel's TCP socket is the production one's.
// Writes are cut into segments that take their sender's uplink, the run's
// latency and their receiver's downlink, as datagrams do; unlike
// datagrams none is dropped. Instead, as TCP's windows and congestion
// control do, a writer waits while its peer holds streamWindow bytes it
// has not read, and while its own uplink holds more than linkBuffer of
// sending. Reads credit the writer at once: the window bounds memory, not
// throughput, which the links alone shape.
type streamEnd struct {
	f            *fabric
	link         *port // this end's node: its uplink carries the writes
	peerLink     *port // the other end's node: its queue takes them
	peer         *streamEnd
	laddr, raddr *net.TCPAddr

	mu       sync.Mutex
	buf      [][]byte // received segments, not yet read (the first maybe in part)
	eof      bool     // the peer's close arrived, after all it wrote
	closed   bool     // this end closed
	reset    bool     // the peer closed: writes fail
	credit   int      // bytes this end may send before the peer reads more
	rdl, wdl time.Time
	due      time.Time     // when the last segment on its way here is due
	held     time.Time     // when the last one sent again here is due
	readable chan struct{} // capacity 1: data, EOF, close or a new read deadline
	writable chan struct{} // capacity 1: credit, reset, close or a new write deadline
}

var _ net.Conn = (*streamEnd)(nil)

// newStream is a connected pair of stream ends between the ports a and b,
// at the addresses la and lb.
func newStream(f *fabric, a, b *port, la, lb *net.TCPAddr) (*streamEnd, *streamEnd) {
	x := &streamEnd{f: f, link: a, peerLink: b, laddr: la, raddr: lb}
	y := &streamEnd{f: f, link: b, peerLink: a, laddr: lb, raddr: la}
	for _, e := range []*streamEnd{x, y} {
		e.credit = streamWindow
		e.readable, e.writable = make(chan struct{}, 1), make(chan struct{}, 1)
	}
	x.peer, y.peer = y, x
	return x, y
}

// Read returns what has arrived, waiting for it until the read deadline;
// io.EOF once the peer closed and all it wrote was read.
func (e *streamEnd) Read(p []byte) (int, error) {
	for {
		e.mu.Lock()
		n, err, wait := e.readLocked(p)
		deadline := e.rdl
		e.mu.Unlock()
		if !wait {
			if n > 0 {
				e.peer.grant(n)
			}
			return n, err
		}
		if err := waitFor(e.readable, deadline, nil); err != nil {
			return 0, err
		}
	}
}

// readLocked takes what it can of the buffer into p; wait means nothing
// is there yet.
func (e *streamEnd) readLocked(p []byte) (n int, err error, wait bool) {
	switch {
	case e.closed:
		return 0, net.ErrClosed, false
	case len(e.buf) > 0:
		for len(e.buf) > 0 && n < len(p) {
			c := copy(p[n:], e.buf[0])
			n += c
			if e.buf[0] = e.buf[0][c:]; len(e.buf[0]) == 0 {
				e.buf[0] = nil
				e.buf = e.buf[1:]
			}
		}
		return n, nil, false
	case e.eof:
		return 0, io.EOF, false
	case len(p) == 0:
		return 0, nil, false
	}
	return 0, nil, true
}

// Write sends p, segment by segment, as the window and the uplink let it,
// until the write deadline.
func (e *streamEnd) Write(p []byte) (int, error) {
	sent := 0
	for sent < len(p) {
		n, err := e.reserve(len(p) - sent)
		if err != nil {
			return sent, err
		}
		e.f.sendSegment(e, slices.Clone(p[sent:sent+n]), false)
		sent += n
		if err := e.pace(); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// reserve waits for the peer's credit for up to want bytes (at most a
// segment) and takes it.
func (e *streamEnd) reserve(want int) (int, error) {
	for {
		e.mu.Lock()
		closed, reset, credit, deadline := e.closed, e.reset, e.credit, e.wdl
		n := min(want, credit, streamSegment)
		if !closed && !reset && n > 0 {
			e.credit -= n
		}
		e.mu.Unlock()
		switch {
		case closed:
			return 0, net.ErrClosed
		case reset:
			return 0, errStreamReset
		case n > 0:
			return n, nil
		}
		if err := waitFor(e.writable, deadline, nil); err != nil {
			return 0, err
		}
	}
}

// pace waits while this end's uplink holds more than linkBuffer of
// sending: a full socket buffer.
func (e *streamEnd) pace() error {
	for {
		over := e.link.up.backlog(time.Now()) - linkBuffer
		if over <= 0 {
			return nil
		}
		e.mu.Lock()
		closed, deadline := e.closed, e.wdl
		e.mu.Unlock()
		if closed {
			return net.ErrClosed
		}
		t := time.NewTimer(over)
		err := waitFor(e.writable, deadline, t.C)
		t.Stop()
		if err != nil {
			return err
		}
	}
}

// grant gives this end n more bytes of credit: its peer read them.
func (e *streamEnd) grant(n int) {
	e.mu.Lock()
	e.credit += n
	e.mu.Unlock()
	signal(e.writable)
}

// receive takes a segment off the fabric: it joins the buffer as it is
// (Write sent a copy of its own), or its bytes go back to the sender's
// credit at once if this end is closed (the sender learns of the close by
// its reset); fin ends the stream after them.
func (e *streamEnd) receive(b []byte, fin bool) {
	e.mu.Lock()
	closed := e.closed
	if !closed {
		if len(b) > 0 {
			e.buf = append(e.buf, b)
		}
		e.eof = e.eof || fin
	}
	e.mu.Unlock()
	if closed && len(b) > 0 {
		e.peer.grant(len(b))
	}
	signal(e.readable)
}

// Close ends this end: its reads and writes fail, its peer's writes fail
// at once, and its peer reads what was sent before the close, then EOF.
func (e *streamEnd) Close() error {
	e.mu.Lock()
	was := e.closed
	e.closed, e.buf = true, nil
	e.mu.Unlock()
	if was {
		return nil
	}
	signal(e.readable)
	signal(e.writable)
	e.peer.mu.Lock()
	e.peer.reset = true
	e.peer.mu.Unlock()
	signal(e.peer.writable)
	e.f.sendSegment(e, nil, true)
	return nil
}

// LocalAddr is this end's address.
func (e *streamEnd) LocalAddr() net.Addr { return e.laddr }

// RemoteAddr is the peer's address.
func (e *streamEnd) RemoteAddr() net.Addr { return e.raddr }

// SetDeadline sets both deadlines.
func (e *streamEnd) SetDeadline(t time.Time) error {
	e.SetReadDeadline(t)
	return e.SetWriteDeadline(t)
}

// SetReadDeadline sets when a waiting Read gives up, including one already
// waiting. Deadlines are times, not timers: a waiter makes its own timer,
// so yamux's deadline on every write costs nothing more.
func (e *streamEnd) SetReadDeadline(t time.Time) error {
	e.mu.Lock()
	e.rdl = t
	e.mu.Unlock()
	signal(e.readable)
	return nil
}

// SetWriteDeadline sets when a waiting Write gives up, including one
// already waiting.
func (e *streamEnd) SetWriteDeadline(t time.Time) error {
	e.mu.Lock()
	e.wdl = t
	e.mu.Unlock()
	signal(e.writable)
	return nil
}

// signal wakes c's waiter, if any, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitFor waits for c, or for other (nil: never), until deadline (zero:
// none).
func waitFor(c <-chan struct{}, deadline time.Time, other <-chan time.Time) error {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-c:
	case <-other:
	case <-expired:
		return os.ErrDeadlineExceeded
	}
	return nil
}

// sendSegment puts b (and fin) from e on its way to e's peer: it leaves
// e's uplink when the uplink has sent what it holds, and reaches the
// peer's queue a latency later, never before a segment sent earlier. It
// never blocks or drops.
func (f *fabric) sendSegment(e *streamEnd, b []byte, fin bool) {
	at := e.peer.after(e.link.up.take(time.Now(), len(b)).Add(f.delay()))
	e.peerLink.push(arrival{at: at, from: e.link.addr, b: b, to: e.peer, fin: fin})
}

// arriveSegment takes a segment whose time has come. One off the wire
// that a cut or the loss share stops comes again a retransmission timeout
// later (streamRetransmit), as TCP sends it again, and every segment
// behind it waits for it; one that gets through enters pt's downlink,
// however full; one through the downlink goes to its end.
func (f *fabric) arriveSegment(pt *port, a arrival) {
	if a.linked {
		a.to.receive(a.b, a.fin)
		return
	}
	switch held := a.to.heldUntil(); {
	case a.at.Before(held):
		a.at = held // behind one sent again, so after it
	case f.cut.drops(a.from, pt.addr) || f.loses():
		a.at = a.to.hold(time.Now().Add(streamRetransmit))
	default:
		a.at, a.linked = pt.down.take(a.at, len(a.b)), true
	}
	pt.push(a)
}

// after is when a segment for e due at t may arrive: after the last one
// scheduled, so a stream's bytes keep their order.
func (e *streamEnd) after(t time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.afterLocked(t)
}

func (e *streamEnd) afterLocked(t time.Time) time.Time {
	return notBefore(&e.due, t)
}

// hold schedules a segment for e sent again at t (or after the last one
// scheduled): every segment already on its way here waits for it.
func (e *streamEnd) hold(t time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.held = e.afterLocked(t)
	return e.held
}

// heldUntil is when the last segment for e sent again is due: those
// scheduled before it that would arrive earlier must wait for it.
func (e *streamEnd) heldUntil() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.held
}

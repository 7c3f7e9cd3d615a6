package sim

import (
	"container/heap"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// fabric is the simulated network: each node's endpoint has a link whose
// uplink and downlink send one datagram after another at their rate, and
// every datagram takes the run's latency between them. It replaced
// simnet's own Simnet (v0.0.7), whose single router goroutine hands every
// datagram of the network over one at a time and waits while the
// destination's link is full: one busy node stalled every delivery. At
// 1,000 nodes (240,000 goroutines) that router sat blocked on one downlink
// after another with thousands of uplinks queued behind it, and the zone
// took minutes to mesh. Here a datagram's times are computed as it is
// sent, and each endpoint has its own queue and goroutine, so a slow node
// delays only what is sent to it, as on a real network.
//
// Links drop as a router's full buffer does: a datagram that would wait
// more than linkBuffer behind those already queued on a link is dropped,
// which is the loss QUIC's congestion control backs off on. With a loss
// share, each datagram is also dropped at random with that probability
// (testnet.Params.Loss), before it takes any link's time.
type fabric struct {
	latency time.Duration
	// jitter adds to each datagram's latency a uniform share of itself;
	// a datagram never overtakes one its sender sent before (inOrder),
	// nor a segment one of its stream.
	jitter  time.Duration
	loss    float64
	cut     *cut
	closing chan struct{}
	wg      sync.WaitGroup

	mu        sync.RWMutex
	ports     map[netip.AddrPort]*port
	listeners map[netip.AddrPort]*tcpListener // the tcp transport's (tcp.go)
	ephemeral atomic.Uint32                   // the last port number a tcp dial took

	unroutable atomic.Int64 // datagrams for an address no endpoint has
	overflow   atomic.Int64 // datagrams a full link buffer dropped
	lost       atomic.Int64 // datagrams the loss share dropped
}

func newFabric(latency, jitter time.Duration, loss float64, c *cut) *fabric {
	return &fabric{latency: latency, jitter: jitter, loss: loss, cut: c, closing: make(chan struct{}),
		ports: map[netip.AddrPort]*port{}, listeners: map[netip.AddrPort]*tcpListener{}}
}

// port is one endpoint's place on the fabric: its link's two directions,
// the datagrams on their way to it, and its current socket.
type port struct {
	addr     *net.UDPAddr
	up, down shaper

	mu    sync.Mutex
	sock  *socket
	queue arrivals
	seq   uint64
	wake  chan struct{} // capacity 1: the queue's head changed
	sent  time.Time     // when the last datagram it sent arrives (with a jitter)
}

// endpoint is a socket at addr whose link sends up and receives down bytes
// per second (0: uncapped). An address used before (a restarted node)
// gets a new socket on the same port.
func (f *fabric) endpoint(addr *net.UDPAddr, up, down int64) *socket {
	var s *socket
	f.attach(addr, up, down, func(pt *port) {
		s = newSocket(f, pt)
		pt.sock = s
	})
	return s
}

// link is the port at addr with a link that sends up and receives down
// bytes per second, without a socket: the tcp transport's node, whose
// streams (stream.go) are carried by the port's link and queue. An address
// used before gets its link reset.
func (f *fabric) link(addr *net.UDPAddr, up, down int64) *port {
	return f.attach(addr, up, down, func(*port) {})
}

// attach makes or resets the port at addr, letting set give it its socket
// (under the port's lock) before it becomes routable.
func (f *fabric) attach(addr *net.UDPAddr, up, down int64, set func(*port)) *port {
	ap := addrPort(addr)
	f.mu.Lock()
	defer f.mu.Unlock()
	pt, ok := f.ports[ap]
	if !ok {
		pt = &port{addr: addr, wake: make(chan struct{}, 1)}
	}
	pt.mu.Lock()
	set(pt)
	pt.up.reset(up)
	pt.down.reset(down)
	pt.mu.Unlock()
	if !ok {
		// Routable only once it has a socket: a datagram may arrive at
		// once (latency 0).
		f.ports[ap] = pt
		f.wg.Go(func() { f.deliver(pt) })
	}
	return pt
}

// send puts a datagram from one port on its way to addr: it leaves the
// sender's uplink when the uplink has sent what it holds, and reaches the
// destination's queue a latency later. It never blocks.
func (f *fabric) send(from *port, to net.Addr, b []byte) {
	u, ok := to.(*net.UDPAddr)
	if !ok {
		f.unroutable.Add(1)
		return
	}
	f.mu.RLock()
	dst := f.ports[addrPort(u)]
	f.mu.RUnlock()
	if dst == nil {
		f.unroutable.Add(1)
		return
	}
	if f.cut.drops(from.addr, u) {
		return
	}
	if f.loses() {
		return
	}
	left, ok := from.up.admit(time.Now(), len(b))
	if !ok {
		f.overflow.Add(1)
		return
	}
	at := left.Add(f.delay())
	if f.jitter > 0 {
		at = from.inOrder(at)
	}
	dst.push(arrival{at: at, from: from.addr, b: b})
}

// delay is a datagram's or segment's time on the wire: the latency and a
// uniform share of the jitter.
func (f *fabric) delay() time.Duration {
	if f.jitter <= 0 {
		return f.latency
	}
	return f.latency + rand.N(f.jitter)
}

// inOrder is at, or just after the arrival of the datagram pt sent
// before if that is later: a jitter varies the delay, it does not
// reorder what one sender sends.
func (pt *port) inOrder(at time.Time) time.Time {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return notBefore(&pt.sent, at)
}

// notBefore is t, or just after *last if t is not later, and becomes
// *last: arrivals kept in the order they were scheduled.
func notBefore(last *time.Time, t time.Time) time.Time {
	if !t.After(*last) {
		t = last.Add(time.Nanosecond)
	}
	*last = t
	return t
}

// loses draws whether the loss share drops a packet, and counts it if so.
func (f *fabric) loses() bool {
	if f.loss > 0 && rand.Float64() < f.loss {
		f.lost.Add(1)
		return true
	}
	return false
}

// deliver passes each datagram for pt through pt's downlink, then to its
// socket, as their times come, until the fabric closes.
func (f *fabric) deliver(pt *port) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		a, wait := pt.next(time.Now())
		if wait == 0 {
			f.arrive(pt, a)
			continue
		}
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-f.closing:
			return
		case <-pt.wake:
		case <-tick:
		}
	}
}

// arrive takes a datagram whose time has come: one off the wire enters
// pt's downlink (or is dropped by a full buffer, or by a cut that went up
// while it was in flight); one through the downlink goes to the socket.
func (f *fabric) arrive(pt *port, a arrival) {
	if a.to != nil {
		f.arriveSegment(pt, a)
		return
	}
	if a.linked {
		pt.mu.Lock()
		s := pt.sock
		pt.mu.Unlock()
		s.receive(a.from, a.b)
		return
	}
	if f.cut.drops(a.from, pt.addr) {
		return
	}
	done, ok := pt.down.admit(a.at, len(a.b))
	if !ok {
		f.overflow.Add(1)
		return
	}
	a.at, a.linked = done, true
	pt.push(a)
}

// push queues a for pt, waking its goroutine if a is now first.
func (pt *port) push(a arrival) {
	pt.mu.Lock()
	pt.seq++
	a.seq = pt.seq
	heap.Push(&pt.queue, a)
	first := pt.queue[0].seq == a.seq
	pt.mu.Unlock()
	if first {
		select {
		case pt.wake <- struct{}{}:
		default:
		}
	}
}

// next takes the first datagram off pt's queue if its time has come (wait
// 0); otherwise it says how long until it does (-1: the queue is empty).
func (pt *port) next(now time.Time) (arrival, time.Duration) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if len(pt.queue) == 0 {
		return arrival{}, -1
	}
	if d := pt.queue[0].at.Sub(now); d > 0 {
		return arrival{}, d
	}
	return heap.Pop(&pt.queue).(arrival), 0
}

// close stops every port and closes every socket's reads.
func (f *fabric) close() {
	close(f.closing)
	f.wg.Wait()
}

// addrPort is addr as a map key.
func addrPort(addr *net.UDPAddr) netip.AddrPort {
	ap := addr.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// arrival is a datagram on its way to a port: due at at, either at the
// port's downlink (linked false) or, through it, at its socket.
type arrival struct {
	at     time.Time
	seq    uint64 // order pushed, so equal times keep it
	linked bool
	from   *net.UDPAddr
	b      []byte
	// to is the stream end a segment is for (stream.go); nil for a
	// datagram.
	to *streamEnd
	// fin marks the segment that closes to's stream after b.
	fin bool
}

// arrivals is a min-heap of arrivals by time, then order pushed.
type arrivals []arrival

func (q arrivals) Len() int { return len(q) }
func (q arrivals) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q arrivals) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *arrivals) Push(x any)   { *q = append(*q, x.(arrival)) }
func (q *arrivals) Pop() any {
	old := *q
	a := old[len(old)-1]
	old[len(old)-1] = arrival{}
	*q = old[:len(old)-1]
	return a
}

// shaper is one direction of a link: it sends one datagram after another
// at its rate, and drops one that would wait more than linkBuffer.
type shaper struct {
	mu   sync.Mutex
	rate float64   // bytes per second; 0: uncapped
	free time.Time // when it has sent what it holds
}

// reset gives the shaper a new rate and an empty buffer.
func (s *shaper) reset(bytesPerSecond int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate, s.free = float64(bytesPerSecond), time.Time{}
}

// admit returns when a datagram of size bytes entering at t has been sent,
// or false if the buffer is full.
func (s *shaper) admit(t time.Time, size int) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rate > 0 && s.free.Sub(t) > linkBuffer {
		return time.Time{}, false
	}
	return s.takeLocked(t, size), true
}

// take returns when size bytes entering at t have been sent, however long
// they wait: a stream's segment, which its sender paces (streamEnd.pace)
// rather than the link dropping it.
func (s *shaper) take(t time.Time, size int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked(t, size)
}

func (s *shaper) takeLocked(t time.Time, size int) time.Time {
	if s.rate <= 0 {
		return t
	}
	start := t
	if s.free.After(t) {
		start = s.free
	}
	s.free = start.Add(time.Duration(float64(size) / s.rate * float64(time.Second)))
	return s.free
}

// backlog is how long what the shaper holds at t takes to send.
func (s *shaper) backlog(t time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.free.Sub(t), 0)
}

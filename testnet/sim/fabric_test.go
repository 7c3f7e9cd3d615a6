package sim

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// fabricPair is a fabric with latency and n uncapped endpoints.
func fabricPair(t *testing.T, latency time.Duration, n int) (*fabric, []*socket) {
	t.Helper()
	f := newFabric(latency, 0, 0, &cut{})
	t.Cleanup(f.close)
	var socks []*socket
	for i := range n {
		socks = append(socks, f.endpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, byte(i+1)), Port: 4001}, 0, 0))
	}
	return f, socks
}

// read reads one datagram from s, failing the test after a minute.
func read(t *testing.T, s *socket) ([]byte, net.Addr) {
	t.Helper()
	_ = s.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 2048)
	n, from, err := s.ReadFrom(buf)
	if err != nil {
		t.Fatalf("reading on %v: %v", s.LocalAddr(), err)
	}
	return buf[:n], from
}

func TestFabricDeliversAfterLatency(t *testing.T) {
	const latency = 30 * time.Millisecond
	_, s := fabricPair(t, latency, 2)
	start := time.Now()
	if _, err := s[0].WriteTo([]byte("hello"), s[1].LocalAddr()); err != nil {
		t.Fatal(err)
	}
	got, from := read(t, s[1])
	if string(got) != "hello" || from.String() != s[0].LocalAddr().String() {
		t.Fatalf("got %q from %v, want %q from %v", got, from, "hello", s[0].LocalAddr())
	}
	if d := time.Since(start); d < latency {
		t.Fatalf("arrived after %v, before the link's latency %v", d, latency)
	}
}

// TestFabricSlowReceiverDelaysOnlyItself: a node that does not read fills
// its own queue; datagrams to everyone else still arrive. simnet's single
// router stalled the whole network behind such a node.
func TestFabricSlowReceiverDelaysOnlyItself(t *testing.T) {
	_, s := fabricPair(t, time.Millisecond, 3)
	for range 10 * socketQueue {
		_, _ = s[0].WriteTo(make([]byte, 1200), s[1].LocalAddr()) // s[1] never reads
	}
	_, _ = s[0].WriteTo([]byte("through"), s[2].LocalAddr())
	if got, _ := read(t, s[2]); string(got) != "through" {
		t.Fatalf("got %q", got)
	}
}

// TestFabricCapsBandwidth: a capped uplink sends at its rate and drops
// what would wait past its buffer.
func TestFabricCapsBandwidth(t *testing.T) {
	const (
		rate = 200_000 // bytes per second
		size = 1000
		sent = 200 // a second's worth, ten times the buffer
	)
	f := newFabric(0, 0, 0, &cut{})
	t.Cleanup(f.close)
	a := f.endpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}, rate, 0)
	b := f.endpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 1}, 0, 0)
	start := time.Now()
	for range sent {
		_, _ = a.WriteTo(make([]byte, size), b.LocalAddr())
	}
	// The buffer holds linkBuffer of sending, plus the datagram on the wire.
	want := int(rate*linkBuffer.Seconds())/size + 1
	for range want {
		read(t, b)
	}
	if d, min := time.Since(start), time.Duration(want-1)*time.Second*size/rate; d < min {
		t.Fatalf("%d datagrams of %d bytes took %v at %d B/s, want at least %v", want, size, d, rate, min)
	}
	if got := f.overflow.Load(); got != int64(sent-want) {
		t.Fatalf("dropped %d datagrams, want %d (the buffer holds %d)", got, sent-want, want)
	}
}

// TestFabricDropsLossShare: with a loss share, about that share of the
// datagrams is dropped at random, and every other one arrives.
func TestFabricDropsLossShare(t *testing.T) {
	const sent = 2000
	f := newFabric(0, 0, 0.5, &cut{})
	t.Cleanup(f.close)
	a := f.endpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}, 0, 0)
	b := f.endpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 1}, 0, 0)
	for range sent {
		_, _ = a.WriteTo([]byte("x"), b.LocalAddr())
	}
	lost := int(f.lost.Load())
	// Binomial(2000, 0.5): a standard deviation of 22; 300 either side is
	// beyond chance.
	if lost < sent/2-300 || lost > sent/2+300 {
		t.Fatalf("lost %d of %d datagrams at a loss share of 0.5", lost, sent)
	}
	for range sent - lost {
		read(t, b)
	}
	if n := f.overflow.Load(); n != 0 {
		t.Fatalf("%d datagrams overflowed an uncapped link", n)
	}
}

func TestFabricSocketDeadlineAndClose(t *testing.T) {
	_, s := fabricPair(t, 0, 2)
	_ = s[0].SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := s[0].ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	_ = s[0].SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, _, err := s[0].ReadFrom(make([]byte, 10)); done <- err }()
	_ = s[0].Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed socket: %v", err)
	}
	if _, err := s[0].WriteTo([]byte("x"), s[1].LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed socket: %v", err)
	}
}

// TestFabricCutDropsBothWays: a cut drops datagrams between its sides and
// nothing else; healed, they flow again.
func TestFabricCutDropsBothWays(t *testing.T) {
	f, s := fabricPair(t, 0, 3)
	ip := func(i int) []netip.Addr { return []netip.Addr{addrPort(s[i].pt.addr).Addr()} }
	f.cut.split(ip(0), ip(1))
	_, _ = s[0].WriteTo([]byte("cut"), s[1].LocalAddr())
	_, _ = s[1].WriteTo([]byte("cut"), s[0].LocalAddr())
	_, _ = s[0].WriteTo([]byte("side"), s[2].LocalAddr())
	if got, _ := read(t, s[2]); string(got) != "side" {
		t.Fatalf("got %q", got)
	}
	if got := f.cut.dropped.Load(); got != 2 {
		t.Fatalf("cut dropped %d datagrams, want 2", got)
	}
	f.cut.heal()
	_, _ = s[0].WriteTo([]byte("healed"), s[1].LocalAddr())
	if got, _ := read(t, s[1]); string(got) != "healed" {
		t.Fatalf("got %q after healing, want %q", got, "healed")
	}
}

// TestFabricJitterKeepsOrder: with a jitter each datagram takes the
// latency and a share of the jitter, and a sender's datagrams still
// arrive in the order sent (a varying path delay, not a reordering one);
// the delays do vary (200 draws of a 50 ms jitter cannot all land in one
// microsecond unless the jitter is ignored).
func TestFabricJitterKeepsOrder(t *testing.T) {
	const latency, jitter, sent = 5 * time.Millisecond, 50 * time.Millisecond, 200
	f := newFabric(latency, jitter, 0, &cut{})
	t.Cleanup(f.close)
	a := f.endpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4001}, 0, 0)
	b := f.endpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 4001}, 0, 0)
	var delays []time.Duration
	for i := range sent {
		delays = append(delays, f.delay())
		if _, err := a.WriteTo([]byte{byte(i)}, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range sent {
		if got, _ := read(t, b); got[0] != byte(i) {
			t.Fatalf("datagram %d arrived as the %dth: reordered", got[0], i)
		}
	}
	lo, hi := delays[0], delays[0]
	for _, d := range delays {
		if d < latency || d >= latency+jitter {
			t.Fatalf("a delay of %v, want %v plus less than %v", d, latency, jitter)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < time.Microsecond {
		t.Errorf("%d delays all within %v of each other: the jitter is not drawn", sent, hi-lo)
	}
}

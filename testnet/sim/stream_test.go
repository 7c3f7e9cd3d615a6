package sim

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// streamPair is a stream between two ports of f, at 10.0.0.1 (uplink up
// bytes per second) and 10.0.0.2 (uncapped).
func streamPair(f *fabric, up int64) (a, b *streamEnd) {
	pa := f.link(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: simPort}, up, 0)
	pb := f.link(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: simPort}, 0, 0)
	return newStream(f, pa, pb, &net.TCPAddr{IP: pa.addr.IP, Port: 40000}, &net.TCPAddr{IP: pb.addr.IP, Port: simPort})
}

// TestStreamKeepsOrderThroughLossAndCut: a stream's bytes arrive whole and
// in order while a third of its segments are lost and a cut stops all of
// them for a while: each comes again after streamRetransmit, and those
// behind it wait for it.
func TestStreamKeepsOrderThroughLossAndCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c cut
		f := newFabric(10*time.Millisecond, 0, 0.3, &c)
		defer f.close()
		a, b := streamPair(f, 1<<20)
		want := make([]byte, 2<<20)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range want {
			want[i] = byte(rng.Uint32())
		}
		go func() {
			for rest := want; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(100_000))
				if _, err := a.Write(rest[:n]); err != nil {
					t.Errorf("writing: %v", err)
					return
				}
				rest = rest[n:]
			}
			a.Close()
		}()
		go func() {
			time.Sleep(500 * time.Millisecond)
			c.split([]netip.Addr{netip.MustParseAddr("10.0.0.1")}, []netip.Addr{netip.MustParseAddr("10.0.0.2")})
			time.Sleep(3 * time.Second)
			c.heal()
		}()
		got, err := io.ReadAll(b)
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, not the %d written in order", len(got), len(want))
		}
		if f.lost.Load() == 0 || c.dropped.Load() == 0 {
			t.Fatalf("lost %d segments, the cut stopped %d: the test exercised no retransmission", f.lost.Load(), c.dropped.Load())
		}
	})
}

// TestStreamShapesToItsUplink: 2 MiB through a 1 MiB/s uplink take two
// seconds (of the bubble's virtual time) and a latency, not less.
func TestStreamShapesToItsUplink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFabric(20*time.Millisecond, 0, 0, &cut{})
		defer f.close()
		a, b := streamPair(f, 1<<20)
		start := time.Now()
		go func() {
			a.Write(make([]byte, 2<<20))
			a.Close()
		}()
		n, err := io.Copy(io.Discard, b)
		if err != nil || n != 2<<20 {
			t.Fatalf("read %d bytes (%v), want %d", n, err, 2<<20)
		}
		if d := time.Since(start); d < 2*time.Second+20*time.Millisecond || d > 2*time.Second+100*time.Millisecond {
			t.Fatalf("2 MiB at 1 MiB/s and 20 ms took %v of virtual time", d)
		}
	})
}

// TestStreamWindowBoundsUnreadBytes: a writer whose peer does not read
// sends streamWindow bytes and then waits, until its deadline.
func TestStreamWindowBoundsUnreadBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFabric(time.Millisecond, 0, 0, &cut{})
		defer f.close()
		a, _ := streamPair(f, 0)
		a.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := a.Write(make([]byte, 4*streamWindow))
		if n != streamWindow || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("wrote %d bytes (%v) to a peer that reads nothing, want %d and the deadline", n, err, streamWindow)
		}
	})
}

// TestStreamCloseEndsBothWays: the peer reads what was written before the
// close, then EOF; its writes fail as after a reset; the closed end's own
// reads and writes fail.
func TestStreamCloseEndsBothWays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFabric(time.Millisecond, 0, 0, &cut{})
		defer f.close()
		a, b := streamPair(f, 0)
		a.Write([]byte("last words"))
		a.Close()
		got, err := io.ReadAll(b)
		if string(got) != "last words" || err != nil {
			t.Fatalf("read %q (%v) after the close, want %q then EOF", got, err, "last words")
		}
		if _, err := b.Write([]byte("x")); !errors.Is(err, errStreamReset) {
			t.Fatalf("writing to a closed peer: %v, want %v", err, errStreamReset)
		}
		if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("reading a closed end: %v", err)
		}
		if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("writing a closed end: %v", err)
		}
	})
}

// TestStreamReadDeadline: a waiting Read gives up at its deadline, and one
// moved while it waits.
func TestStreamReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFabric(time.Millisecond, 0, 0, &cut{})
		defer f.close()
		_, b := streamPair(f, 0)
		b.SetReadDeadline(time.Now().Add(time.Hour))
		go func() {
			time.Sleep(time.Second)
			b.SetReadDeadline(time.Now())
		}()
		start := time.Now()
		if _, err := b.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("read: %v after %v, want the deadline moved to 1s", err, time.Since(start))
		}
	})
}

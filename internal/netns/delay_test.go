package netns

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// A node with latency d gets its packets through, each held at least d:
// a round trip from it (its answer delayed on the way in) cannot take
// less. Only this lower bound is checked, which load cannot break.
func TestLatencyDelaysEveryPacket(t *testing.T) {
	if err := LatencyAvailable(); err != nil {
		t.Skip(err)
	}
	const d = 150 * time.Millisecond
	ctx := context.Background()
	n := newNet(t)
	a, err := n.AddNode(ctx, "slow", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddNode(ctx, "echo", 0)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := b.Listen("tcp", b.Addr.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	if err := a.SetLatency(ctx, d); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	start := time.Now()
	if err := doIn("/run/netns/"+a.NS, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Logf("connect %v", time.Since(start))
	if connect := time.Since(start); connect < d {
		t.Errorf("connected in %v through a %v delay", connect, d)
	}
	msg := make([]byte, 200<<10) // many packets, all through the queue
	for i := range msg {
		msg[i] = byte(i)
	}
	start = time.Now()
	go conn.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatal(err)
	}
	t.Logf("echoed %d KiB in %v", len(msg)>>10, time.Since(start))
	if rtt := time.Since(start); rtt < d {
		t.Errorf("echoed in %v through a %v delay", rtt, d)
	}
	for i := range got {
		if got[i] != msg[i] {
			t.Fatalf("byte %d came back as %d, want %d", i, got[i], msg[i])
		}
	}
	if err := a.SetLatency(ctx, d); err == nil {
		t.Error("a second latency was accepted")
	}
}

// A node with a loss share drops about that share of what it receives:
// of 400 datagrams sent to it at 50 %, between 100 and 300 arrive (a
// binomial's 10 standard deviations either side), and a second loss or a
// share outside (0, 1) is refused.
func TestLossDropsItsShare(t *testing.T) {
	if err := LatencyAvailable(); err != nil {
		t.Skip(err)
	}
	const sent = 400
	ctx := context.Background()
	n := newNet(t)
	a, err := n.AddNode(ctx, "sender", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddNode(ctx, "lossy", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []float64{0, 1, -0.5} {
		if err := b.SetLoss(ctx, p); err == nil {
			t.Errorf("loss %v accepted", p)
		}
	}
	if err := b.SetLoss(ctx, 0.5); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLoss(ctx, 0.1); err == nil {
		t.Error("a second loss was accepted")
	}
	var pc *net.UDPConn
	if err := doIn("/run/netns/"+b.NS, func() error {
		var err error
		pc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IP(b.Addr.AsSlice())})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_ = pc.SetReadBuffer(4 << 20) // none lost to a full socket buffer
	if err := doIn("/run/netns/"+a.NS, func() error {
		c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
		if err != nil {
			return err
		}
		defer c.Close()
		for range sent {
			if _, err := c.Write(make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := 0
	buf := make([]byte, 1500)
	for {
		// The datagrams are sent already: the read ends once none is left.
		_ = pc.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := pc.Read(buf); err != nil {
			break
		}
		got++
	}
	if got < sent/4 || got > 3*sent/4 {
		t.Errorf("%d of %d datagrams arrived at a 50%% loss", got, sent)
	}
	t.Logf("%d of %d datagrams arrived", got, sent)
}

package netns

import (
	"context"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A node with latency d gets its packets through, each held at least d:
// a round trip from it (its answer delayed on the way in) cannot take
// less. Only this lower bound is checked, which load cannot break.
func TestLatencyDelaysEveryPacket(t *testing.T) {
	const d = 150 * time.Millisecond
	ctx := context.Background()
	a, b := twoNodes(t, "slow", "echo")
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
	if err := a.SetLatency(ctx, d, 0); err != nil {
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
	if err := a.SetLatency(ctx, d, 0); err == nil {
		t.Error("a second latency was accepted")
	}
}

// A node with a loss share drops about that share of what it receives:
// of 400 datagrams sent to it at 50 %, between 100 and 300 arrive (a
// binomial's 10 standard deviations either side), and a second loss or a
// share outside (0, 1) is refused.
func TestLossDropsItsShare(t *testing.T) {
	const sent = 400
	ctx := context.Background()
	a, b := twoNodes(t, "sender", "lossy")
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
	pc := listenUDP(t, b)
	sendUDP(t, a, pc, sent, func(int) []byte { return make([]byte, 100) })
	dropped := droppedByLoss(t, b)
	if dropped < sent/4 || dropped > 3*sent/4 {
		t.Errorf("the loss rule dropped %d of %d datagrams at 50%%", dropped, sent)
	}
	// Every datagram the rule let through arrives (the deadline only
	// bounds a failure).
	buf := make([]byte, 1500)
	_ = pc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range sent - dropped {
		if _, err := pc.Read(buf); err != nil {
			t.Fatalf("datagram %d of the %d not dropped: %v", i+1, sent-dropped, err)
		}
	}
	t.Logf("%d of %d datagrams dropped", dropped, sent)
}

// droppedByLoss is the packet count of nd's loss rule (the first of its
// INPUT chain).
func droppedByLoss(t *testing.T, nd *Node) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", nd.NS, "iptables", "-w", "-L", "INPUT", "1", "-v", "-x", "-n").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 || f[2] != "DROP" {
		t.Fatalf("INPUT's first rule is not the loss rule: %q", out)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatalf("reading the loss rule's packet count from %q: %v", out, err)
	}
	return n
}

// A node with a jitter gets the datagrams sent to it in the order sent,
// each at least the latency after it left: 300 numbered datagrams in a
// burst, each drawn up to 100 ms more, would come out of order were each
// released at its own time. The last one comes at least half the jitter
// past the latency (that all 300 draws fell below half has a chance of
// 2^-300), which only the jitter can make it. A latency and jitter of
// zero, or negative, are refused.
func TestJitterKeepsOrder(t *testing.T) {
	const sent, latency, jitter = 300, 20 * time.Millisecond, 100 * time.Millisecond
	ctx := context.Background()
	a, b := twoNodes(t, "sender", "jittery")
	for _, d := range [][2]time.Duration{{0, 0}, {-time.Millisecond, jitter}, {latency, -time.Millisecond}} {
		if err := b.SetLatency(ctx, d[0], d[1]); err == nil {
			t.Errorf("latency %v, jitter %v accepted", d[0], d[1])
		}
	}
	if err := b.SetLatency(ctx, latency, jitter); err != nil {
		t.Fatal(err)
	}
	pc := listenUDP(t, b)
	start := time.Now()
	sendUDP(t, a, pc, sent, func(i int) []byte { return []byte{byte(i >> 8), byte(i)} })
	buf := make([]byte, 1500)
	_ = pc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range sent {
		n, err := pc.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i+1, sent, err)
		}
		if got := int(buf[0])<<8 | int(buf[1]); n != 2 || got != i {
			t.Fatalf("datagram %d arrived as the %dth: reordered", got, i)
		}
		if i == 0 && time.Since(start) < latency {
			t.Errorf("the first datagram arrived %v after the burst began, before the %v latency", time.Since(start), latency)
		}
	}
	if took := time.Since(start); took < latency+jitter/2 {
		t.Errorf("the last datagram arrived %v after the burst began: no jitter drawn beyond the %v latency", took, latency)
	}
}

// twoNodes skips the test without iptables and makes a network of two
// nodes, named a and b.
func twoNodes(t *testing.T, a, b string) (*Node, *Node) {
	t.Helper()
	if err := LatencyAvailable(); err != nil {
		t.Skip(err)
	}
	n := newNet(t)
	var nodes [2]*Node
	for i, name := range []string{a, b} {
		var err error
		if nodes[i], err = n.AddNode(context.Background(), name, 0); err != nil {
			t.Fatal(err)
		}
	}
	return nodes[0], nodes[1]
}

// listenUDP is a UDP socket on nd's address in its namespace, with room
// for a burst (none lost to a full socket buffer), closed with the test.
func listenUDP(t *testing.T, nd *Node) *net.UDPConn {
	t.Helper()
	var pc *net.UDPConn
	if err := doIn("/run/netns/"+nd.NS, func() error {
		var err error
		pc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IP(nd.Addr.AsSlice())})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	_ = pc.SetReadBuffer(4 << 20)
	return pc
}

// sendUDP sends n datagrams, the ith payload(i), from nd's namespace to
// pc's address, in a burst.
func sendUDP(t *testing.T, nd *Node, pc *net.UDPConn, n int, payload func(int) []byte) {
	t.Helper()
	if err := doIn("/run/netns/"+nd.NS, func() error {
		c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range n {
			if _, err := c.Write(payload(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

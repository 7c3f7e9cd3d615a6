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

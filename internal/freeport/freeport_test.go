package freeport

import (
	"fmt"
	"net"
	"testing"
)

// Ports are below the ephemeral range, distinct, and free to listen on.
func TestGet(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		p := Get(t)
		if p < low-Span || p >= low || seen[p] {
			t.Fatalf("port %d: want a new one in [%d, %d)", p, low-Span, low)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("listening on the port handed out: %v", err)
		}
		ln.Close()
	}
}

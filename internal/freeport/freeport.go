// Package freeport hands tests TCP ports on 127.0.0.1 that nothing
// listens on: below the kernel's ephemeral range, so no outgoing
// connection takes one as its source port and no listen on :0 is given
// one, and never the same port twice in one test binary. A port taken
// from the ephemeral range (a listen on :0, closed) is one the kernel
// hands out again: with libp2p hosts dialling each other beside the test,
// a listener opened on it later found it in use. It does no networking
// beyond a probe listen, and is for tests only.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
)

// Span is how many ports below the ephemeral range ports are drawn from.
const Span = 8000

// defaultLow is the ephemeral range's first port where the kernel's
// setting cannot be read (Linux's default).
const defaultLow = 32768

// handedOut are the ports Get returned.
var handedOut sync.Map

// Get is a TCP port free on 127.0.0.1 just now, below the ephemeral
// range, never one it returned before in this binary.
func Get(tb testing.TB) int {
	tb.Helper()
	low := ephemeralLow()
	for range 4 * Span {
		port := low - Span + rand.IntN(Span)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // another process's: never hand it out
		}
		ln.Close()
		return port
	}
	tb.Fatalf("no free port among the %d below the ephemeral range's %d", Span, low)
	return 0
}

// ephemeralLow is the first port of the kernel's ephemeral range
// (net.ipv4.ip_local_port_range).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	var low int
	if err == nil {
		_, err = fmt.Sscan(string(b), &low)
	}
	if err != nil || low <= Span+1024 {
		return defaultLow
	}
	return low
}

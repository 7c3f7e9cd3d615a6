// Package sdnotifytest stands in for systemd in tests: a real unix datagram
// socket that NOTIFY_SOCKET names, collecting what the daemon sends.
package sdnotifytest

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MaxSocketPath is the longest unix socket path Linux accepts: sun_path
// holds 108 bytes with the terminating NUL.
const MaxSocketPath = 107

// maxDatagram is the largest notification the socket reads whole; systemd
// itself reads at most a page's worth.
const maxDatagram = 4096

// stateBuffer is how many datagrams wait unread before the reader blocks.
const stateBuffer = 1024

// Socket is the notify socket systemd would listen on.
type Socket struct {
	// Path is the socket's file, as NOTIFY_SOCKET names it.
	Path   string
	states chan []string
}

// Listen opens a notify socket in a fresh directory under t.TempDir() (or,
// if that path is too long for a unix socket, under os.TempDir()) and closes
// it when t ends. It does not set NOTIFY_SOCKET: Setenv does.
func Listen(t testing.TB) *Socket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	if len(path) > MaxSocketPath {
		dir, err := os.MkdirTemp("", "sdn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		path = filepath.Join(dir, "notify")
	}
	if len(path) > MaxSocketPath {
		t.Fatalf("notify socket path %s is longer than %d bytes: set TMPDIR to a shorter directory", path, MaxSocketPath)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listening on %s: %v", path, err)
	}
	s := &Socket{Path: path, states: make(chan []string, stateBuffer)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.states)
		buf := make([]byte, maxDatagram)
		for {
			n, err := conn.Read(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				t.Errorf("reading the notify socket: %v", err)
				return
			}
			s.states <- strings.Split(string(buf[:n]), "\n")
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return s
}

// Setenv points NOTIFY_SOCKET at s for the rest of t.
func (s *Socket) Setenv(t testing.TB) {
	t.Helper()
	t.Setenv("NOTIFY_SOCKET", s.Path)
}

// Next is the next datagram's assignments (one per line), or false if none
// arrives within timeout.
func (s *Socket) Next(timeout time.Duration) ([]string, bool) {
	select {
	case st, ok := <-s.states:
		return st, ok
	case <-time.After(timeout):
		return nil, false
	}
}

// WaitFor reads datagrams until one holds want (an assignment such as
// "READY=1"), within timeout, and returns every datagram read, the matching
// one last; false if none matched in time.
func (s *Socket) WaitFor(want string, timeout time.Duration) ([][]string, bool) {
	deadline := time.Now().Add(timeout)
	var read [][]string
	for {
		st, ok := s.Next(time.Until(deadline))
		if !ok {
			return read, false
		}
		read = append(read, st)
		for _, line := range st {
			if line == want {
				return read, true
			}
		}
	}
}

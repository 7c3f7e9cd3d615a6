package sdnotify

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/internal/sdnotify/sdnotifytest"
)

// quiet is how long a disabled notifier's socket is watched for stray
// datagrams; one that was sent arrives in microseconds.
const quiet = 100 * time.Millisecond

// arrival bounds the wait for a datagram that was sent.
const arrival = 5 * time.Second

func TestNotifierFromEnv(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	// Every state, in the order each case sends them.
	sent := [][]string{{"READY=1", "STATUS=zone acme, 3 peers"}, {"STATUS=zone acme, 4 peers"}, {"WATCHDOG=1"}, {"STOPPING=1", "STATUS=stopping"}}
	for _, tc := range []struct {
		name     string
		socket   bool              // NOTIFY_SOCKET names the test's socket
		env      map[string]string // WATCHDOG_USEC and WATCHDOG_PID
		ping     time.Duration
		fromErr  string // FromEnv's error
		received [][]string
	}{
		{name: "outside systemd", socket: false, env: map[string]string{"WATCHDOG_USEC": "200000"}},
		{name: "no watchdog", socket: true, received: sent},
		{name: "watchdog for this process", socket: true, env: map[string]string{"WATCHDOG_USEC": "200000", "WATCHDOG_PID": self},
			ping: 100 * time.Millisecond, received: sent},
		{name: "watchdog without a pid", socket: true, env: map[string]string{"WATCHDOG_USEC": "60000000"},
			ping: 30 * time.Second, received: sent},
		{name: "watchdog for another process", socket: true, env: map[string]string{"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"},
			received: sent},
		{name: "malformed watchdog", socket: true, env: map[string]string{"WATCHDOG_USEC": "soon"},
			fromErr: "reading the systemd watchdog interval", received: sent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := sdnotifytest.Listen(t)
			t.Setenv("NOTIFY_SOCKET", "")
			if tc.socket {
				sock.Setenv(t)
			}
			t.Setenv("WATCHDOG_USEC", tc.env["WATCHDOG_USEC"])
			t.Setenv("WATCHDOG_PID", tc.env["WATCHDOG_PID"])
			n, err := FromEnv()
			if tc.fromErr == "" && err != nil || tc.fromErr != "" && (err == nil || !strings.Contains(err.Error(), tc.fromErr)) {
				t.Fatalf("FromEnv: %v, want error %q", err, tc.fromErr)
			}
			if n.Enabled() != tc.socket || n.PingInterval() != tc.ping {
				t.Errorf("Enabled %v, PingInterval %v; want %v, %v", n.Enabled(), n.PingInterval(), tc.socket, tc.ping)
			}
			for _, err := range []error{n.Ready("zone acme, 3 peers"), n.Status("zone acme,\n4 peers"), n.Ping(), n.Stopping("stopping")} {
				if err != nil {
					t.Errorf("sending: %v", err)
				}
			}
			var got [][]string
			for range tc.received {
				st, ok := sock.Next(arrival)
				if !ok {
					break
				}
				got = append(got, st)
			}
			if st, ok := sock.Next(quiet); ok {
				got = append(got, st)
			}
			if !slices.EqualFunc(got, tc.received, slices.Equal) {
				t.Errorf("the socket received %q, want %q", got, tc.received)
			}
		})
	}
}

// A nil Notifier, as a caller holds before FromEnv, sends nothing.
func TestNilNotifierIsDisabled(t *testing.T) {
	var n *Notifier
	if n.Enabled() || n.PingInterval() != 0 || n.Ready("x") != nil || n.Ping() != nil || n.Stopping("") != nil {
		t.Error("a nil Notifier is enabled or failed to do nothing")
	}
}

// A socket nobody listens on is an error naming what was being sent.
func TestNotifyWithoutListener(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	n, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(""); err == nil || !strings.Contains(err.Error(), `notifying systemd of "READY=1"`) {
		t.Errorf("Ready to a missing socket: %v, want an error naming READY=1", err)
	}
}

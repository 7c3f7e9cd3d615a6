package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/internal/sdnotify"
	"github.com/patchnet/patchnet/internal/sdnotify/sdnotifytest"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// testWatchdog is the WatchdogSec the tests give the daemon: pings every
// 100 ms.
const testWatchdog = 200 * time.Millisecond

// notifyWait bounds the wait for one notification. READY=1 comes after
// start-up and, with a bootstrap peer, its catch-up (well under a second on
// loopback); the bound is for loaded machines.
const notifyWait = 30 * time.Second

// minPings is how many WATCHDOG=1 a test waits for after READY=1.
const minPings = 2

// zoneCA makes a root and a zone CA "lab" under it; it returns the root
// certificate's path and the zone CA's directory.
func zoneCA(t *testing.T) (root, zoneDir string) {
	t.Helper()
	dir := t.TempDir()
	rootDir, zoneDir := filepath.Join(dir, "root"), filepath.Join(dir, "zone")
	if _, err := ca.InitRoot(rootDir, ca.DefaultRootOptions()); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.InitZone(rootDir, "lab", zoneDir, ca.DefaultZoneOptions()); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(rootDir, ca.RootCertFile), zoneDir
}

// enrol gives state a key and a certificate of role signed by zoneDir.
func enrol(t *testing.T, zoneDir, state string, role trust.Role) {
	t.Helper()
	_, csr, err := ca.Request(state, ca.RequestOptions{Role: role, Zone: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.SignFile(zoneDir, csr, ca.SignOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startSupernode runs a supernode of zoneDir's zone on loopback until t
// ends and returns its full multiaddr. It runs through node.New, not the
// command, so it sends systemd nothing.
func startSupernode(t *testing.T, root, zoneDir string) string {
	t.Helper()
	state := t.TempDir()
	enrol(t, zoneDir, state, trust.RoleSupernode)
	cfg := node.DefaultConfig()
	cfg.State, cfg.Roots, cfg.Zone = state, []string{root}, "lab"
	cfg.Overlay.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("starting the supernode: %v", err)
	}
	ran := make(chan error, 1)
	go func() { ran <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-ran
		n.Close()
	})
	return n.Overlay().Addrs()[0].String() + "/p2p/" + n.ID().String()
}

// TestAgentNotifiesSystemd runs `patchnet agent` as systemd would, with
// NOTIFY_SOCKET naming a socket the test listens on and a 200 ms watchdog,
// and follows what it says from start to stop.
func TestAgentNotifiesSystemd(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bootstrap bool   // the agent has a supernode to catch up from
		status    string // READY=1's STATUS line ends so
	}{
		{name: "alone", bootstrap: false, status: "0 verified peers, not caught up yet"},
		{name: "with a peer", bootstrap: true, status: "1 verified peer, caught up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, zoneDir := zoneCA(t)
			state := t.TempDir()
			enrol(t, zoneDir, state, trust.RoleAgent)
			args := []string{"--state", state, "--root", root, "--zone", "lab", "--sysroot", t.TempDir(),
				"--listen", "/ip4/127.0.0.1/tcp/0", "--require-tool-pins=false"}
			if tc.bootstrap {
				args = append(args, "--bootstrap", startSupernode(t, root, zoneDir))
			}
			sock := sdnotifytest.Listen(t)
			sock.Setenv(t)
			t.Setenv("WATCHDOG_USEC", strconv.FormatInt(testWatchdog.Microseconds(), 10))
			t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

			cancel, done, out := launchNodeCmd(t, trust.RoleAgent, args...)
			read, ok := sock.WaitFor("READY=1", notifyWait)
			if !ok {
				t.Fatalf("no READY=1 within %v; received %q\n%s", notifyWait, read, out)
			}
			if st := statusOf(read[len(read)-1]); !strings.HasPrefix(st, "agent of zone lab: ") || !strings.HasSuffix(st, tc.status) {
				t.Errorf("READY=1 came with STATUS %q, want \"agent of zone lab: …%s\"", st, tc.status)
			}
			for i := range minPings {
				if read, ok := sock.WaitFor("WATCHDOG=1", notifyWait); !ok {
					t.Fatalf("WATCHDOG=1 number %d after READY=1 did not come within %v; received %q", i+1, notifyWait, read)
				}
			}
			cancel()
			if read, ok := sock.WaitFor("STOPPING=1", notifyWait); !ok {
				t.Errorf("no STOPPING=1 after the agent was stopped; received %q", read)
			} else if st := statusOf(read[len(read)-1]); st != "agent of zone lab: stopping" {
				t.Errorf("STOPPING=1 came with STATUS %q", st)
			}
			if err := <-done; err != nil {
				t.Errorf("agent: %v\n%s", err, out)
			}
			if strings.Contains(out.String(), "systemd:") {
				t.Errorf("the agent reported a notification failure:\n%s", out)
			}
		})
	}
}

// testReadyWait stands in for ReadyCatchUpWait where no peer answers.
const testReadyWait = 300 * time.Millisecond

// A node whose bootstrap peers are all down still becomes ready, once the
// wait for its first catch-up ran out, and says it has not caught up; a
// notifier stopped before the node's context ended still sends STOPPING=1.
func TestReadyWithoutCatchUpAfterWait(t *testing.T) {
	root, zoneDir := zoneCA(t)
	state := t.TempDir()
	enrol(t, zoneDir, state, trust.RoleAgent)
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	nobody, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.State, cfg.Roots, cfg.Zone, cfg.Sysroot = state, []string{root}, "lab", t.TempDir()
	cfg.Install.RequireToolPins = false
	cfg.Overlay.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	// Port 1 on loopback refuses every dial.
	cfg.Overlay.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/1/p2p/" + nobody.String()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := node.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	sock := sdnotifytest.Listen(t)
	sock.Setenv(t)
	t.Setenv("WATCHDOG_USEC", "")
	sd, err := sdnotify.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	var said syncBuffer
	s := &serviceNotifier{sd: sd, role: trust.RoleAgent, zone: "lab", n: n, readyWait: testReadyWait,
		say: func(line string) { said.Write([]byte(line + "\n")) }}
	started := time.Now()
	stop := s.start(ctx, true)
	read, ok := sock.WaitFor("READY=1", notifyWait)
	if !ok {
		t.Fatalf("no READY=1 within %v; received %q", notifyWait, read)
	}
	if waited := time.Since(started); waited < testReadyWait {
		t.Errorf("READY=1 after %v, before the catch-up wait of %v ran out", waited, testReadyWait)
	}
	if st := statusOf(read[len(read)-1]); st != "agent of zone lab: 0 verified peers, not caught up yet" {
		t.Errorf("READY=1 came with STATUS %q", st)
	}
	stop()
	if read, ok := sock.WaitFor("STOPPING=1", notifyWait); !ok {
		t.Errorf("no STOPPING=1 from a stopped notifier; received %q", read)
	}
	if said.String() != "" {
		t.Errorf("the notifier reported failures:\n%s", said.String())
	}
}

// Outside systemd (NOTIFY_SOCKET unset) the agent runs and stops as before,
// even with a watchdog interval in its environment, and sends nothing.
func TestAgentWithoutNotifySocket(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", strconv.FormatInt(testWatchdog.Microseconds(), 10))
	state := t.TempDir()
	root := nodeFiles(t, state, trust.RoleAgent)
	cancel, done, out := launchNodeCmd(t, trust.RoleAgent, "--state", state, "--root", root, "--zone", "lab",
		"--sysroot", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--require-tool-pins=false")
	deadline := time.Now().Add(notifyWait)
	for !strings.Contains(out.String(), "listening on ") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// Long enough for a few pings, had the agent sent any.
	if st, ok := sock.Next(3 * testWatchdog); ok {
		t.Errorf("the socket received %q with NOTIFY_SOCKET unset", st)
	}
	cancel()
	if err := <-done; err != nil || !strings.Contains(out.String(), "listening on ") {
		t.Errorf("agent: %v\n%s", err, out)
	}
}

// launchNodeCmd runs the node command of role in the background; cancel
// stops it as SIGTERM does, and done yields its error.
func launchNodeCmd(t *testing.T, role trust.Role, args ...string) (cancel func(), done <-chan error, out *syncBuffer) {
	t.Helper()
	cmd := newAgentCmd()
	if role == trust.RoleSupernode {
		cmd = newSupernodeCmd()
	}
	out = &syncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	ran, finished := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(finished)
		ran <- cmd.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(notifyWait):
			t.Errorf("the %s command did not stop within %v", role, notifyWait)
		}
	})
	return cancel, ran, out
}

// statusOf is the STATUS= value of one notification ("" if none).
func statusOf(assignments []string) string {
	i := slices.IndexFunc(assignments, func(a string) bool { return strings.HasPrefix(a, "STATUS=") })
	if i < 0 {
		return ""
	}
	return strings.TrimPrefix(assignments[i], "STATUS=")
}

package rawgossip

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/libp2p/go-libp2p"
	lpnet "github.com/libp2p/go-libp2p/core/network"
)

// peerEnv makes the test binary a raw gossip peer in a process of its
// own (TestMain), as `patchnet testnet raw-gossip` is.
const peerEnv = "RAWGOSSIP_TEST_PEER"

func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) != "" {
		if err := servePeer(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// servePeer is the child process: a peer on a loopback TCP port served
// on standard input and output.
func servePeer() error {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.ResourceManager(&lpnet.NullResourceManager{}), libp2p.DisableMetrics())
	if err != nil {
		return err
	}
	defer h.Close()
	p, err := New(context.Background(), h)
	if err != nil {
		return err
	}
	return Serve(context.Background(), p, os.Stdin, os.Stdout)
}

// startRemote starts a peer process for the test's life.
func startRemote(t *testing.T, ctx context.Context, name string) *Remote {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"=1")
	r, err := Start(ctx, name, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Four peers in processes of their own, connected in a line (the
// runner's dials), form their meshes; every round a runner publishes
// through one reaches the other three, each round timed and counted,
// and the processes exit when their input ends.
func TestRemoteRoundsAcrossProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rs []*Remote
	for i := range 4 {
		rs = append(rs, startRemote(t, ctx, fmt.Sprintf("p%d", i)))
	}
	for i := range 3 {
		if err := rs[i].Dial(ctx, rs[i+1].Addr()); err != nil {
			t.Fatal(err)
		}
	}
	all := []Member{rs[0], rs[1], rs[2], rs[3]}
	if !WaitMeshes(ctx, all, time.Minute) {
		t.Fatal("the meshes did not form")
	}
	out, err := Run(ctx, rs[0], all, all[1:], 2000, time.Minute, func(string, int, int) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rounds) != Rounds {
		t.Fatalf("%d rounds, want %d", len(out.Rounds), Rounds)
	}
	for i, times := range out.Rounds {
		if len(times) != 3 {
			t.Errorf("round %d reached %d of the 3 peers", i, len(times))
		}
		for _, d := range times {
			if d <= 0 {
				t.Errorf("round %d: a delivery %v after its publication", i, d)
			}
		}
	}
	if len(out.Median) != 3 {
		t.Errorf("median round %v, want the three peers' times", out.Median)
	}
	for _, r := range rs {
		if err := r.Close(); err != nil {
			t.Errorf("%s did not exit cleanly once its input ended: %v", r.name, err)
		}
	}
}

// A dial the peer cannot make comes back as an error naming the address,
// and the peer serves on.
func TestRemoteDialFailureNamesAddress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b := startRemote(t, ctx, "a"), startRemote(t, ctx, "b")
	gone := startRemote(t, ctx, "gone")
	addr := gone.Addr()
	gone.Close()
	err := a.Dial(ctx, addr)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("dialing a peer that exited: %v, want an error naming %s", err, addr)
	}
	if err := a.Dial(ctx, b.Addr()); err != nil {
		t.Fatalf("after a failed dial: %v", err)
	}
}

// A command the peer does not know ends it with an error naming the
// line; a publish over the size limit is refused the same way.
func TestServeRefusesMalformedCommands(t *testing.T) {
	for _, line := range []string{"fly away", "publish 1", fmt.Sprintf("publish 1 %d", MaxMessageBytes+1), "dial /ip4/1.2.3.4"} {
		t.Run(line, func(t *testing.T) {
			h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p, err := New(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			err = Serve(ctx, p, strings.NewReader(line+"\n"), &out)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), line) {
				t.Errorf("Serve: %v, want ErrMalformed naming %q", err, line)
			}
			if !strings.HasPrefix(out.String(), "listening /ip4/127.0.0.1/tcp/") {
				t.Errorf("output %q, want the listening line first", out.String())
			}
		})
	}
}

// ParseEvent reads every event the protocol has and refuses, naming the
// line, what is not one.
func TestParseEvent(t *testing.T) {
	const addr = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEvJjGxZcvix7PQLqVMEPaYaGvJLzEnDnZc3bVijxSvrH"
	at := time.Unix(0, 1796656635931359881)
	for _, tc := range []struct {
		line string
		want Event
	}{
		{"listening " + addr, Event{Kind: "listening", Addr: addr}},
		{"dialed " + addr, Event{Kind: "dialed", Addr: addr}},
		{"dial-failed " + addr + " no route to host", Event{Kind: "dial-failed", Addr: addr, Reason: "no route to host"}},
		{"published 2 1796656635931359881", Event{Kind: "published", Round: 2, At: at}},
		{"got 0 1796656635931359881", Event{Kind: "got", Round: 0, At: at}},
		{"publish-failed 1 topic closed", Event{Kind: "publish-failed", Round: 1, Reason: "topic closed"}},
		{"counts 3 1 12", Event{Kind: "counts", Grafts: 3, Prunes: 1, Duplicates: 12}},
	} {
		got, err := ParseEvent(tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.line, diff)
		}
	}
	for _, line := range []string{"", "hello", "listening /ip4/127.0.0.1/tcp/1", "got 1", "got -1 5", "got 1 0", "got 1 2 3",
		"counts 1 2", "counts 1 2 -3", "published x 1", "publish-failed", "dial-failed nonsense why"} {
		if _, err := ParseEvent(line); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("%q", line)) {
			t.Errorf("%q: %v, want ErrMalformed naming the line", line, err)
		}
	}
}

// FuzzParseEvent: any line parses or is refused with ErrMalformed, and
// what parses keeps its kind.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{"listening /ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEvJjGxZcvix7PQLqVMEPaYaGvJLzEnDnZc3bVijxSvrH",
		"got 0 1796656635931359881", "counts 3 1 12", "publish-failed 1 x", "dial-failed /dns/x/tcp/1/p2p/12D3KooWEvJjGxZcvix7PQLqVMEPaYaGvJLzEnDnZc3bVijxSvrH y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseEvent(line)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%q: %v, not ErrMalformed", line, err)
			}
			return
		}
		if !strings.HasPrefix(line, e.Kind+" ") {
			t.Fatalf("%q parsed as kind %q", line, e.Kind)
		}
	})
}

package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Node is one namespace joined to the hub's bridge: eth0 inside at Addr,
// its peer hubIf on the bridge.
type Node struct {
	net *Network
	// Name is the node's name in the network.
	Name string
	// NS is the namespace's name (for ip netns exec).
	NS string
	// Addr is eth0's address.
	Addr  netip.Addr
	hubIf string

	mu      sync.Mutex
	delayer *delayer // nil: no latency
	loss    float64  // share of received packets dropped (SetLoss)
}

// create makes the namespace and its link, up, with loopback up too.
func (nd *Node) create(ctx context.Context) error {
	if err := run(ctx, "ip", "netns", "add", nd.NS); err != nil {
		return err
	}
	err := batch(ctx, "ip", []string{"-n", nd.net.hub},
		"link add "+nd.hubIf+" type veth peer name eth0 netns "+nd.NS,
		"link set "+nd.hubIf+" master "+bridge+" up")
	if err == nil {
		err = batch(ctx, "ip", []string{"-n", nd.NS},
			"link set lo up",
			fmt.Sprintf("addr add %s/%d dev eth0", nd.Addr, Subnet.Bits()),
			"link set eth0 up")
	}
	return err
}

// SetRate shapes both directions of the node's link to rate bytes per
// second with tbf: eth0's egress (what the node sends) and the hub end's
// egress (what it receives). A rate of 0 removes the shaping.
func (nd *Node) SetRate(ctx context.Context, rate int64) error {
	if rate < 0 {
		return fmt.Errorf("rate %d bytes/s: want ≥ 0", rate)
	}
	for _, end := range []struct{ ns, dev string }{{nd.NS, "eth0"}, {nd.net.hub, nd.hubIf}} {
		var err error
		if rate == 0 {
			err = run(ctx, "tc", "-n", end.ns, "qdisc", "del", "dev", end.dev, "root")
			if err != nil && !isNoQdisc(ctx, end.ns, end.dev) {
				return fmt.Errorf("removing the shaping of %s: %w", nd.Name, err)
			}
			continue
		}
		err = run(ctx, "tc", append([]string{"-n", end.ns}, tbfArgs(end.dev, rate)...)...)
		if err != nil {
			return fmt.Errorf("shaping %s to %d bytes/s: %w", nd.Name, rate, err)
		}
	}
	return nil
}

// tbfArgs are tc's arguments shaping what dev sends to rate bytes a
// second.
func tbfArgs(dev string, rate int64) []string {
	burst := max(rate/BurstPerSecond, MinBurst)
	return []string{"qdisc", "replace", "dev", dev, "root", "tbf", "rate", fmt.Sprintf("%dbit", rate*8), "burst", fmt.Sprint(burst),
		"latency", fmt.Sprintf("%dms", ShapeLatency.Milliseconds())}
}

// isNoQdisc reports whether dev has no root qdisc of ours (deleting the
// default one fails, and that is no error).
func isNoQdisc(ctx context.Context, ns, dev string) bool {
	out, err := exec.CommandContext(ctx, "tc", "-n", ns, "qdisc", "show", "dev", dev, "root").Output()
	return err == nil && !bytes.Contains(out, []byte("tbf"))
}

// Down takes the node's link down at the hub end: nothing passes either
// way until Up, as if its cable were pulled. The node's processes keep
// running and see their connections stall.
func (nd *Node) Down(ctx context.Context) error {
	if err := run(ctx, "ip", "-n", nd.net.hub, "link", "set", nd.hubIf, "down"); err != nil {
		return fmt.Errorf("taking %s's link down: %w", nd.Name, err)
	}
	return nil
}

// Up brings the node's link up again after Down.
func (nd *Node) Up(ctx context.Context) error {
	if err := run(ctx, "ip", "-n", nd.net.hub, "link", "set", nd.hubIf, "up"); err != nil {
		return fmt.Errorf("bringing %s's link up: %w", nd.Name, err)
	}
	return nil
}

// Command is name with args run inside the node's namespace (through ip
// netns exec, which execs it: the process's pid is the command's).
// The process is killed if this one dies (Pdeathsig survives the exec), so
// a killed run leaves no daemons behind in namespaces the sweep removes.
func (nd *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", nd.NS, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Listen opens a listener inside the node's namespace for this process:
// a socket belongs to the namespace it was made in, so it is made on a
// thread moved there for the call.
func (nd *Node) Listen(network, addr string) (net.Listener, error) {
	return listenIn("/run/netns/"+nd.NS, network, addr)
}

// ListenHub is Listen in the hub namespace, at HubAddr.
func (n *Network) ListenHub(network, addr string) (net.Listener, error) {
	return listenIn("/run/netns/"+n.hub, network, addr)
}

// listenIn listens on addr inside the namespace at path, on a goroutine
// whose thread is moved there and back; if moving it back fails, the
// goroutine exits with the thread still locked, and Go discards the thread
// rather than run other goroutines in the wrong namespace.
func listenIn(path, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := doIn(path, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, path, err)
	}
	return ln, nil
}

// doIn runs f on a thread moved into the namespace at path and back: the
// sockets f makes belong to that namespace. If moving back fails, the
// goroutine exits with the thread still locked, and Go discards the
// thread rather than run other goroutines in the wrong namespace.
func doIn(path string, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := doOnThread(path, f)
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

// doOnThread does doIn's work on the locked thread; restored says whether
// the thread is back in its own namespace.
func doOnThread(path string, f func() error) (bool, error) {
	own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, fmt.Errorf("opening this thread's namespace: %w", err)
	}
	defer unix.Close(own)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, fmt.Errorf("opening the namespace: %w", err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("entering the namespace: %w", err)
	}
	ferr := f()
	if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
		return false, errors.Join(ferr, fmt.Errorf("leaving the namespace: %w", err))
	}
	return true, ferr
}

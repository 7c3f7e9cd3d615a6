package netns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Subnet is the private range every network uses. Each network has its
// own hub namespace, so two networks using the same range never meet.
var Subnet = netip.MustParsePrefix("10.77.0.0/16")

// bridge is the bridge's name in the hub namespace.
const bridge = "br0"

// seq tells apart the networks one process makes.
var seq atomic.Uint64

// validName is what a node's name may be: it becomes part of a namespace
// name and of file names.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)

// Network is one run's namespaces: the hub holding the bridge, and the
// nodes joined to it. Close removes them all.
type Network struct {
	prefix string // NamePrefix PID "-" SEQ "-"
	hub    string

	mu     sync.Mutex
	nodes  map[string]*Node
	order  []*Node
	closed bool
}

// Available says why this host cannot make namespaces (not root, no ip or
// tc), or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s (iproute2) is not installed", tool)
		}
	}
	return nil
}

// New sweeps namespaces left by killed runs, then makes a hub namespace
// with a bridge at the first address of Subnet. On error nothing is left.
func New(ctx context.Context) (*Network, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if _, err := Sweep(ctx); err != nil {
		return nil, err
	}
	if err := roomForNeighbours(); err != nil {
		return nil, err
	}
	n := &Network{prefix: fmt.Sprintf("%s%d-%d-", NamePrefix, os.Getpid(), seq.Add(1)), nodes: map[string]*Node{}}
	n.hub = n.prefix + "hub"
	err := run(ctx, "ip", "netns", "add", n.hub)
	if err == nil {
		err = batch(ctx, "ip", []string{"-n", n.hub},
			"link set lo up",
			"link add "+bridge+" type bridge",
			"addr add "+hubAddr().String()+"/"+fmt.Sprint(Subnet.Bits())+" dev "+bridge,
			"link set "+bridge+" up")
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("making the hub namespace: %w", err)
	}
	return n, nil
}

// neighbourSysctl is where the kernel's ARP table limits are, in the
// initial namespace (the only one that has them).
const neighbourSysctl = "/proc/sys/net/ipv4/neigh/default/gc_thresh"

// roomForNeighbours raises the ARP table's limits to NeighbourEntries
// (gc_thresh3) and a half and an eighth of it (gc_thresh2, gc_thresh1)
// where they are lower; it never lowers one.
func roomForNeighbours() error {
	for i, want := range []int{NeighbourEntries / 8, NeighbourEntries / 2, NeighbourEntries} {
		path := fmt.Sprintf("%s%d", neighbourSysctl, i+1)
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading the ARP table's limit: %w", err)
		}
		have, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("reading the ARP table's limit %s: %q: %w", path, b, err)
		}
		if have >= want {
			continue
		}
		if err := os.WriteFile(path, []byte(strconv.Itoa(want)), 0o644); err != nil {
			return fmt.Errorf("raising the ARP table's limit %s from %d to %d: %w", path, have, want, err)
		}
	}
	return nil
}

// hubAddr is the bridge's address.
func hubAddr() netip.Addr { return Subnet.Addr().Next() }

// Hub is the hub namespace's name.
func (n *Network) Hub() string { return n.hub }

// HubAddr is the bridge's address, reachable from every node.
func (n *Network) HubAddr() netip.Addr { return hubAddr() }

// Node returns the node named name, or nil.
func (n *Network) Node(name string) *Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodes[name]
}

// AddNode makes a namespace for name, joins it to the bridge with a veth
// pair (eth0 inside, at the next free address) and, with rate > 0, shapes
// both directions of the link to rate bytes per second.
func (n *Network) AddNode(ctx context.Context, name string, rate int64) (*Node, error) {
	if !validName.MatchString(name) || len(name) > MaxNodeName {
		return nil, fmt.Errorf("node name %q: want 1..%d of a-z, 0-9, _", name, MaxNodeName)
	}
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return nil, errors.New("adding a node: the network is closed")
	case n.nodes[name] != nil:
		n.mu.Unlock()
		return nil, fmt.Errorf("node %q exists already", name)
	case len(n.order) >= MaxNodes:
		n.mu.Unlock()
		return nil, fmt.Errorf("node %q: the network has %d nodes, the most it holds", name, MaxNodes)
	}
	idx := len(n.order)
	addr := hubAddr()
	for range idx + 1 {
		addr = addr.Next()
	}
	nd := &Node{net: n, Name: name, NS: n.prefix + name, Addr: addr, hubIf: fmt.Sprintf("h%d", idx)}
	n.nodes[name] = nd
	n.order = append(n.order, nd)
	n.mu.Unlock()
	if err := nd.create(ctx); err != nil {
		return nil, fmt.Errorf("making node %s: %w", name, err)
	}
	if rate > 0 {
		if err := nd.SetRate(ctx, rate); err != nil {
			return nil, err
		}
	}
	return nd, nil
}

// Close deletes every namespace of the network, nodes first. Processes
// still running in one keep it alive until they exit, so stop them first.
func (n *Network) Close() error {
	n.mu.Lock()
	n.closed = true
	nodes := n.order
	n.order, n.nodes = nil, map[string]*Node{}
	n.mu.Unlock()
	var errs []error
	for _, nd := range nodes {
		nd.mu.Lock()
		if nd.delayer != nil {
			nd.delayer.close()
			nd.delayer = nil
		}
		nd.mu.Unlock()
		errs = append(errs, deleteNS(nd.NS))
	}
	errs = append(errs, deleteNS(n.hub))
	return errors.Join(errs...)
}

// deleteNS deletes the namespace name if it exists.
func deleteNS(name string) error {
	if _, err := os.Stat("/run/netns/" + name); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if err := run(ctx, "ip", "netns", "delete", name); err != nil {
		return fmt.Errorf("deleting namespace %s: %w", name, err)
	}
	return nil
}

// run runs a tool, its output in the error if it fails.
func run(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// batch runs several commands of one tool (ip or tc) in one process with
// -batch, each line one command after the common arguments.
func batch(ctx context.Context, tool string, common []string, lines ...string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append(append([]string{}, common...), "-batch", "-")...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s -batch (%s): %w: %s", tool, strings.Join(common, " "), strings.Join(lines, "; "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

package netns

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// newNet makes a network for one test, skipping where namespaces cannot
// be made, and checks at the end that Close left none of its namespaces.
func newNet(t *testing.T) *Network {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no network namespaces here: %v", err)
	}
	n, err := New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
		if left := namespaces(t, n.prefix); len(left) > 0 {
			t.Errorf("Close left namespaces %v", left)
		}
	})
	return n
}

// namespaces lists the namespaces whose names start with prefix.
func namespaces(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	return names
}

// send connects from inside nd to addr with bash's /dev/tcp and sends msg.
func send(nd *Node, addr net.Addr, msg string) error {
	tcp := addr.(*net.TCPAddr)
	script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%d && echo %s >&3", tcp.IP, tcp.Port, msg)
	out, err := nd.Command(context.Background(), "timeout", "1", "bash", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// receive accepts one connection on ln and returns its first line.
func receive(t *testing.T, ln net.Listener) <-chan string {
	ch := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		ch <- strings.TrimSpace(line)
	}()
	return ch
}

// Two nodes reach each other over the bridge; the process reaches a
// listener it opened inside one; a link taken down passes nothing, and
// passes again once up.
func TestNodesTalkAndLinksGoDown(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	ctx := context.Background()
	n := newNet(t)
	a, err := n.AddNode(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddNode(ctx, "b", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if a.Addr == b.Addr || !Subnet.Contains(a.Addr) || !Subnet.Contains(b.Addr) {
		t.Fatalf("addresses %v, %v: want two distinct ones in %v", a.Addr, b.Addr, Subnet)
	}
	ln, err := b.Listen("tcp", b.Addr.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := receive(t, ln)
	if err := send(a, ln.Addr(), "hello"); err != nil {
		t.Fatalf("a → b: %v", err)
	}
	if msg := <-got; msg != "hello" {
		t.Fatalf("b received %q, want hello", msg)
	}

	if err := b.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if err := send(a, ln.Addr(), "lost"); err == nil {
		t.Fatal("a reached b over a link that is down")
	}
	if err := b.Up(ctx); err != nil {
		t.Fatal(err)
	}
	got = receive(t, ln)
	if err := send(a, ln.Addr(), "again"); err != nil {
		t.Fatalf("a → b after Up: %v", err)
	}
	if msg := <-got; msg != "again" {
		t.Fatalf("b received %q after Up, want again", msg)
	}
}

// A commanded process runs inside the node's namespace (it sees eth0 at
// the node's address), and a shaped link has tbf at the rate on both ends.
func TestCommandAndShaping(t *testing.T) {
	ctx := context.Background()
	n := newNet(t)
	nd, err := n.AddNode(ctx, "shaped", 1250000)
	if err != nil {
		t.Fatal(err)
	}
	out, err := nd.Command(ctx, "ip", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), nd.Addr.String()+"/16") {
		t.Fatalf("ip addr inside %s: %v\n%s", nd.NS, err, out)
	}
	for _, end := range [][2]string{{nd.NS, "eth0"}, {n.Hub(), nd.hubIf}} {
		out, err := exec.Command("tc", "-n", end[0], "qdisc", "show", "dev", end[1]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "rate 10Mbit") {
			t.Errorf("qdisc of %s in %s: %v\n%s; want tbf rate 10Mbit", end[1], end[0], err, out)
		}
	}
	if err := nd.SetRate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command("tc", "-n", nd.NS, "qdisc", "show", "dev", "eth0").CombinedOutput()
	if strings.Contains(string(out), "tbf") {
		t.Errorf("SetRate(0) left tbf:\n%s", out)
	}
}

// Bad node names and duplicates are refused, naming the name.
func TestAddNodeRefuses(t *testing.T) {
	ctx := context.Background()
	n := newNet(t)
	if _, err := n.AddNode(ctx, "x", 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x", "Bad", "a-b", "", strings.Repeat("a", MaxNodeName+1)} {
		if _, err := n.AddNode(ctx, name, 0); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("AddNode(%q): %v; want an error naming it", name, err)
		}
	}
}

// Sweep deletes the namespaces of a run whose process is dead and leaves
// those of live ones (this process's) alone.
func TestSweepRemovesDeadRunsOnly(t *testing.T) {
	ctx := context.Background()
	n := newNet(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-1-left", NamePrefix, dead.Process.Pid)
	if err := run(ctx, "ip", "netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNS(stale) })
	swept, err := Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Another test process's New may sweep it first: what matters is that
	// it is gone and nothing live was swept.
	if _, err := os.Stat("/run/netns/" + stale); !os.IsNotExist(err) {
		t.Fatalf("the dead run's namespace %s is still there (swept %v)", stale, swept)
	}
	for _, name := range swept {
		if name != stale && !strings.HasPrefix(name, NamePrefix) {
			t.Errorf("swept %s, not ours", name)
		}
	}
	if _, err := os.Stat("/run/netns/" + n.Hub()); err != nil {
		t.Fatalf("Sweep removed a live run's hub: %v", err)
	}
}

// A partition cuts both ways between its sides and nowhere else: each
// side's nodes reach each other, no connection crosses (between nodes
// with latency too, whose delaying queues would let packets in were the
// cut's rule not ahead of them), and after Heal every pair connects again.
func TestPartitionCutsBothWaysAndHeals(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	if err := LatencyAvailable(); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	n := newNet(t)
	nodes := map[string]*Node{}
	for _, name := range []string{"a", "b", "c", "d"} {
		nd, err := n.AddNode(ctx, name, 0)
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = nd
	}
	for _, name := range []string{"a", "c"} {
		if err := nodes[name].SetLatency(ctx, 5*time.Millisecond, 0); err != nil {
			t.Fatal(err)
		}
	}
	reaches := func(from, to string) bool {
		ln, err := nodes[to].Listen("tcp", nodes[to].Addr.String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := receive(t, ln)
		if err := send(nodes[from], ln.Addr(), "hi"); err != nil {
			return false
		}
		return <-got == "hi"
	}
	check := func(when string, want map[[2]string]bool) {
		t.Helper()
		for pair, ok := range want {
			if got := reaches(pair[0], pair[1]); got != ok {
				t.Errorf("%s: %s → %s connects: %v, want %v", when, pair[0], pair[1], got, ok)
			}
		}
	}
	if err := n.Partition(ctx, []string{"c", "d"}); err != nil {
		t.Fatal(err)
	}
	check("partitioned", map[[2]string]bool{{"a", "b"}: true, {"c", "d"}: true, {"d", "c"}: true,
		{"a", "c"}: false, {"c", "a"}: false, {"b", "d"}: false, {"d", "b"}: false})
	if err := n.Partition(ctx, []string{"x"}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("Partition of an unknown node: %v, want an error naming it", err)
	}
	if err := n.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	check("healed", map[[2]string]bool{{"a", "c"}: true, {"c", "a"}: true, {"b", "d"}: true, {"d", "a"}: true})
}

// A network of 40 nodes that all talk to one another needs 1,560 ARP
// entries, past the kernel's default of 1,024 for every namespace
// together (gc_thresh3): New makes room, so after each node sent a
// datagram to every other, the last one made still reaches the first.
// Without the room it could not even ask for the address ("neighbor
// table overflow") and its connection timed out.
func TestFullMeshFitsTheNeighbourTable(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	ctx := context.Background()
	n := newNet(t)
	var nodes []*Node
	for i := range 40 {
		nd, err := n.AddNode(ctx, fmt.Sprintf("m%d", i), 0)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	for _, from := range nodes {
		err := doIn("/run/netns/"+from.NS, func() error {
			for _, to := range nodes {
				if to == from {
					continue
				}
				c, err := net.Dial("udp", to.Addr.String()+":9")
				if err != nil {
					return err
				}
				c.Write([]byte{0})
				c.Close()
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", from.Name, err)
		}
	}
	first, last := nodes[0], nodes[len(nodes)-1]
	ln, err := first.Listen("tcp", first.Addr.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := receive(t, ln)
	if err := send(last, ln.Addr(), "hello"); err != nil {
		t.Fatalf("%s → %s after the mesh: %v", last.Name, first.Name, err)
	}
	if msg := <-got; msg != "hello" {
		t.Fatalf("%s received %q, want hello", first.Name, msg)
	}
}

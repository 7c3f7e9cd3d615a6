package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchnet/patchnet/internal/netns"
)

// The partition scenario's cut, run in a node's own network namespace as
// in a pod of the cut side: the node still reaches the node it keeps, no
// longer the other one (nor the other it), but for the open API port; on
// SIGTERM it heals, writes its marker, and the other node gets through
// again; started again with the marker there, it cuts nothing.
func TestTestnetCutInNamespace(t *testing.T) {
	bin, ctx, _, nodes := podNamespaces(t, "cut", "kept", "other")
	cut := nodes["cut"]
	for _, port := range []string{"4001", "9090"} {
		ln, err := cut.Listen("tcp", net.JoinHostPort(cut.Addr.String(), port))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
		go srv.Serve(ln)
		defer srv.Close()
	}
	reaches := func(from, port string) bool {
		err := nodes[from].Command(ctx, "curl", "-s", "-o", "/dev/null", "--connect-timeout", "1", "http://"+net.JoinHostPort(cut.Addr.String(), port)+"/").Run()
		return err == nil
	}
	marker := filepath.Join(t.TempDir(), "healed")
	run := func() (*exec.Cmd, *bufio.Reader) {
		// Every pod of its side is kept, itself too, as render names them.
		c := cut.Command(ctx, bin, "testnet", "cut", "--keep", nodes["kept"].Addr.String(), "--keep", cut.Addr.String(),
			"--open", "9090", "--hold", "10m", "--marker", marker)
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		c.Stderr = c.Stdout
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(out)
	}
	c, out := run()
	if said, err := out.ReadString('\n'); err != nil || !strings.HasPrefix(said, "cut off from all but 2 address") {
		t.Fatalf("cut said %q, %v", said, err)
	}
	// A container killed mid-cut leaves its chain; the one started again
	// cuts afresh instead of failing on it.
	c.Process.Kill()
	c.Wait()
	c, out = run()
	if said, err := out.ReadString('\n'); err != nil || !strings.HasPrefix(said, "cut off from all but 2 address") {
		t.Fatalf("cut started again after a kill said %q, %v", said, err)
	}
	for _, r := range []struct {
		from, port string
		want       bool
	}{{"kept", "4001", true}, {"other", "4001", false}, {"other", "9090", true}} {
		if got := reaches(r.from, r.port); got != r.want {
			t.Errorf("during the cut, %s reaches port %s: %v, want %v", r.from, r.port, got, r.want)
		}
	}
	c.Process.Signal(syscall.SIGTERM)
	if said, err := out.ReadString('\n'); err != nil || said != "healed\n" {
		t.Errorf("cut said %q, %v; want healed", said, err)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("cut on SIGTERM: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("no marker once healed: %v", err)
	}
	if !reaches("other", "4001") {
		t.Error("the other node still cannot reach port 4001 once healed")
	}
	c, out = run() // the container started again after the heal
	if said, err := out.ReadString('\n'); err != nil || said != "healed already: no cut\n" {
		t.Errorf("cut started again said %q, %v", said, err)
	}
	if !reaches("other", "4001") {
		t.Error("a cut started again after the heal cut the node off")
	}
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()
}

// podNamespaces is a network of the named nodes, each a network
// namespace as a pod's is, for running the pods' NET_ADMIN commands (the
// test skips without namespaces, iptables, tc or curl), with the patchnet
// binary and the test's context.
func podNamespaces(t *testing.T, names ...string) (string, context.Context, *netns.Network, map[string]*netns.Node) {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("no network namespaces here: %v", err)
	}
	if err := netns.LatencyAvailable(); err != nil {
		t.Skip(err)
	}
	for _, tool := range []string{"curl", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	bin, err := patchnetBin()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	nw, err := netns.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Close() })
	nodes := map[string]*netns.Node{}
	for _, name := range names {
		if nodes[name], err = nw.AddNode(ctx, name, 0); err != nil {
			t.Fatal(err)
		}
	}
	return bin, ctx, nw, nodes
}

package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchnet/patchnet/internal/netns"
	corev1 "k8s.io/api/core/v1"
)

// The rendered pods' shaping container (render --bandwidth 10Mbit --loss
// 1% --latency 300ms --jitter 50ms), its command and arguments as rendered, run in a
// node's own network namespace as in a pod: what the node sends is capped
// by tbf, a share of what it receives is dropped by an iptables statistic
// rule, and while it runs what the node receives is delayed: a TCP connect
// from the node takes the latency more (the lower bound alone is
// asserted). It runs as a sidecar, and exits cleanly on SIGTERM.
func TestTestnetShapeInNamespace(t *testing.T) {
	bin, ctx, nw, nodes := podNamespaces(t, "pod")
	pod := nodes["pod"]
	ln, err := nw.ListenHub("tcp", nw.HubAddr().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	const body = 256 << 10
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(make([]byte, body))
	})}
	go srv.Serve(ln)
	defer srv.Close()

	const latency = 300 * time.Millisecond
	zone := filepath.Join(t.TempDir(), "zone.yaml")
	if msg, err := runTestnetSubCmd(t, "render", "--k8s", "--nodes", "1", "--supernodes", "1", "--threshold", "1",
		"--bandwidth", "10Mbit", "--loss", "1%", "--latency", latency.String(), "--jitter", "50ms", "--out", zone); err != nil {
		t.Fatalf("render: %v\n%s", err, msg)
	}
	data, _ := os.ReadFile(zone)
	c := container(t, decodeRendered(t, data).sets["agent-0"].Spec.Template.Spec, "shape")
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways || !slices.Contains(c.SecurityContext.Capabilities.Add, "NET_ADMIN") {
		t.Errorf("the shaping container: restart policy %v, capabilities %v; want a sidecar with NET_ADMIN", c.RestartPolicy, c.SecurityContext.Capabilities.Add)
	}
	if !slices.Contains(c.Args, "--jitter") || !strings.Contains(strings.Join(c.Args, " "), "--jitter 50ms") {
		t.Errorf("the shaping container's arguments %q: want --jitter 50ms", c.Args)
	}
	shape := pod.Command(ctx, bin, c.Args...)
	out, err := shape.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	shape.Stderr = shape.Stdout
	if err := shape.Start(); err != nil {
		t.Fatal(err)
	}
	said, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(said, "shaped eth0") {
		t.Fatalf("shape said %q, %v", said, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tc", "qdisc", "show", "dev", "eth0"}, "rate 10Mbit"},
		{[]string{"tc", "qdisc", "show", "dev", netns.IngressDev}, "rate 10Mbit"},
		{[]string{"tc", "filter", "show", "dev", "eth0", "ingress"}, "Redirect to device " + netns.IngressDev},
		{[]string{"iptables", "-S", "INPUT"}, "-m statistic --mode random --probability 0.0099"},
		{[]string{"iptables", "-S", "INPUT"}, "--queue-bypass"},
	} {
		got, err := pod.Command(ctx, c.args[0], c.args[1:]...).CombinedOutput()
		if err != nil || !strings.Contains(string(got), c.want) {
			t.Errorf("%v in the pod's namespace: %v\n%s\nwant %q", c.args, err, got, c.want)
		}
	}
	took, err := pod.Command(ctx, "curl", "-s", "-o", "/dev/null", "--retry", "3", "-w", "%{time_connect}", "http://"+ln.Addr().String()+"/").Output()
	if err != nil {
		t.Fatalf("curl from the pod: %v", err)
	}
	secs, err := strconv.ParseFloat(string(took), 64)
	if err != nil {
		t.Fatalf("curl said %q", took)
	}
	if d := time.Duration(secs * float64(time.Second)); d < latency {
		t.Errorf("a connect from the shaped pod took %v, want at least the %v latency", d, latency)
	}
	// What the pod received passed its ingress cap: the ifb's tbf sent it.
	if sent := qdiscSent(t, pod, netns.IngressDev); sent < body {
		t.Errorf("the ingress shaper (%s) passed %d bytes, want at least the %d-byte body the pod downloaded", netns.IngressDev, sent, body)
	}
	shape.Process.Signal(syscall.SIGTERM)
	if err := shape.Wait(); err != nil {
		t.Errorf("shape on SIGTERM: %v", err)
	}
	// The sidecar started again (as the kubelet would) adds no second copy
	// of its rules: two loss rules would drop twice the share.
	again := pod.Command(ctx, bin, c.Args...)
	againOut, err := again.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	if said, err := bufio.NewReader(againOut).ReadString('\n'); err != nil || !strings.HasPrefix(said, "shaped eth0") {
		t.Fatalf("shape started again said %q, %v", said, err)
	}
	got, _ := pod.Command(ctx, "iptables", "-S", "INPUT").Output()
	filters, _ := pod.Command(ctx, "tc", "filter", "show", "dev", "eth0", "ingress").Output()
	again.Process.Signal(syscall.SIGTERM)
	again.Wait()
	if strings.Count(string(got), "statistic") != 1 || strings.Count(string(got), "NFQUEUE") != 1 {
		t.Errorf("after the sidecar ran twice:\n%s\nwant one loss rule and one queue rule", got)
	}
	if strings.Count(string(filters), "Redirect to device") != 1 {
		t.Errorf("after the sidecar ran twice, eth0's ingress filters:\n%s\nwant one redirect", filters)
	}
}

// qdiscSent is the bytes dev's root qdisc sent, as `tc -s` counts them.
func qdiscSent(t *testing.T, pod *netns.Node, dev string) int {
	t.Helper()
	out, err := pod.Command(context.Background(), "tc", "-s", "qdisc", "show", "dev", dev).Output()
	if err != nil {
		t.Fatalf("tc -s qdisc show dev %s: %v", dev, err)
	}
	_, rest, ok := strings.Cut(string(out), "Sent ")
	n, err := strconv.Atoi(strings.Fields(rest + " x")[0])
	if !ok || err != nil {
		t.Fatalf("no byte count in tc's statistics of %s:\n%s", dev, out)
	}
	return n
}

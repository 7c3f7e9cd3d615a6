package netns

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Shaping is what ShapeSelf does to a link.
type Shaping struct {
	// Rate caps what the namespace sends and what it receives, each in
	// bytes a second (tc tbf on the device's egress, and on an ifb device
	// its ingress is redirected to); 0: no cap.
	Rate int64
	// Loss drops each packet the namespace receives with this
	// probability (an iptables statistic rule); 0: none.
	Loss float64
	// Latency delays each packet the namespace receives (an iptables
	// NFQUEUE rule and a delayer in this process); 0: none.
	Latency time.Duration
	// Jitter delays each one a further uniform share of itself, in
	// order (SetLatency); 0: none.
	Jitter time.Duration
}

// ShapeSelf shapes dev in the network namespace this process runs in, as
// Node's SetRate (this end only), SetLoss and SetLatency shape a node's
// link: for a process started in a namespace made for what it shapes, such
// as a Kubernetes pod's shaping sidecar (`patchnet testnet shape`), and
// never for one in a host's own namespace. With a latency, packets are
// delayed only while this process runs: stop (always non-nil) stops the
// delayer, after which the queue lets packets through undelayed.
func ShapeSelf(ctx context.Context, dev string, s Shaping) (stop func(), err error) {
	stop = func() {}
	switch {
	case s.Rate < 0:
		return stop, fmt.Errorf("rate %d bytes/s: want ≥ 0", s.Rate)
	case !(s.Loss >= 0 && s.Loss < 1):
		return stop, fmt.Errorf("loss %v: want 0 ≤ loss < 1", s.Loss)
	case s.Latency < 0 || s.Jitter < 0:
		return stop, fmt.Errorf("latency %v, jitter %v: want ≥ 0", s.Latency, s.Jitter)
	}
	if s.Rate > 0 {
		if err := run(ctx, "tc", tbfArgs(dev, s.Rate)...); err != nil {
			return stop, fmt.Errorf("shaping %s to %d bytes/s: %w", dev, s.Rate, err)
		}
		if err := shapeIngress(ctx, dev, s.Rate); err != nil {
			return stop, fmt.Errorf("shaping what %s receives to %d bytes/s: %w", dev, s.Rate, err)
		}
	}
	delayed := s.Latency > 0 || s.Jitter > 0
	if (s.Loss > 0 || delayed) && LatencyAvailable() != nil {
		return stop, LatencyAvailable()
	}
	if s.Loss > 0 {
		if err := ensureRule(ctx, lossRule(dev, s.Loss)); err != nil {
			return stop, fmt.Errorf("dropping %s's packets: %w", dev, err)
		}
	}
	if !delayed {
		return stop, nil
	}
	dl, err := startDelayer(s.Latency, s.Jitter)
	if err != nil {
		return stop, fmt.Errorf("delaying %s's packets: %w", dev, err)
	}
	if err := ensureRule(ctx, queueRule(dev)); err != nil {
		dl.close()
		return stop, fmt.Errorf("delaying %s's packets: %w", dev, err)
	}
	return dl.close, nil
}

// IngressDev is the ifb device ShapeSelf redirects a link's ingress to:
// tc shapes only what a device sends, so what the link receives is sent
// through this device's tbf first.
const IngressDev = "pnifb0"

// shapeIngress caps what dev receives to rate bytes a second: every packet
// is redirected on arrival (tc ingress, mirred) to IngressDev, whose tbf
// passes it on at rate, as the hub end's tbf does for a netns node. The
// steps replace what a container run before left, so a sidecar started
// again shapes once. A pod's node needs the kernel's ifb module (`modprobe
// ifb`; most distributions ship it): without it the error says so.
func shapeIngress(ctx context.Context, dev string, rate int64) error {
	if run(ctx, "ip", "link", "show", IngressDev) != nil {
		if err := run(ctx, "ip", "link", "add", IngressDev, "type", "ifb"); err != nil {
			return fmt.Errorf("adding %s (is the node's ifb module loaded? modprobe ifb): %w", IngressDev, err)
		}
	}
	if err := run(ctx, "ip", "link", "set", IngressDev, "up"); err != nil {
		return err
	}
	if err := run(ctx, "tc", tbfArgs(IngressDev, rate)...); err != nil {
		return err
	}
	run(ctx, "tc", "qdisc", "del", "dev", dev, "ingress") // absent unless a run before left it
	if err := run(ctx, "tc", "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"); err != nil {
		return err
	}
	return run(ctx, "tc", "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all",
		"u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", IngressDev)
}

// ensureRule adds rule (iptables arguments: -w, then -I CHAIN N or -A
// CHAIN, then the rule) unless the chain has it already: a container
// started again in the same namespace adds no second copy (a second loss
// rule would drop twice the share).
func ensureRule(ctx context.Context, rule []string) error {
	chain, spec := rule[2], rule[3:]
	if rule[1] == "-I" {
		spec = rule[4:]
	}
	if run(ctx, "iptables", append([]string{"-w", "-C", chain}, spec...)...) == nil {
		return nil
	}
	return run(ctx, "iptables", rule...)
}

// The iptables chains CutSelf fills: one for what the namespace receives
// (jumped to from INPUT, matching the sender) and one for what it sends
// (from OUTPUT, matching the receiver). One chain for both matched a kept
// address as source or destination either way, and the pod's own address,
// which its side's list names, is the source of everything it sends and
// the destination of everything it receives: the cut let all through.
const (
	selfCutIn  = "PATCHNET-CUT-IN"
	selfCutOut = "PATCHNET-CUT-OUT"
)

// CutSelf cuts the network namespace this process runs in (a pod's, as
// ShapeSelf) off from every address but keep: in both directions, packets
// from or to another address are dropped, but for loopback, DNS (port 53)
// and the TCP ports in open (a pod's API proxy, which a test reads
// through the cut). keep may name the namespace's own addresses. heal
// removes the cut. It is for a process started in a namespace made for
// what it cuts, never a host's own.
func CutSelf(ctx context.Context, keep []netip.Addr, open []int) (heal func(context.Context) error, err error) {
	if err := LatencyAvailable(); err != nil { // iptables
		return nil, err
	}
	var rules [][]string
	for _, c := range []struct{ chain, hook, iface, peer, port string }{
		{selfCutIn, "INPUT", "-i", "-s", "--sport"}, {selfCutOut, "OUTPUT", "-o", "-d", "--dport"},
	} {
		rules = append(rules, []string{"-N", c.chain}, []string{"-A", c.chain, c.iface, "lo", "-j", "ACCEPT"})
		for _, proto := range []string{"udp", "tcp"} { // DNS: answers come in from port 53, questions go out to it
			rules = append(rules, []string{"-A", c.chain, "-p", proto, c.port, "53", "-j", "ACCEPT"})
		}
		for _, p := range open { // both ends of a connection on the port, whoever opened it
			rules = append(rules, []string{"-A", c.chain, "-p", "tcp", "--dport", strconv.Itoa(p), "-j", "ACCEPT"},
				[]string{"-A", c.chain, "-p", "tcp", "--sport", strconv.Itoa(p), "-j", "ACCEPT"})
		}
		for _, a := range keep {
			rules = append(rules, []string{"-A", c.chain, c.peer, a.String(), "-j", "ACCEPT"})
		}
		rules = append(rules, []string{"-A", c.chain, "-j", "DROP"}, []string{"-I", c.hook, "1", "-j", c.chain})
	}
	undo := [][]string{{"-D", "INPUT", "-j", selfCutIn}, {"-D", "OUTPUT", "-j", selfCutOut},
		{"-F", selfCutIn}, {"-X", selfCutIn}, {"-F", selfCutOut}, {"-X", selfCutOut}}
	heal = func(ctx context.Context) error {
		for _, r := range undo {
			if err := run(ctx, "iptables", append([]string{"-w"}, r...)...); err != nil {
				return fmt.Errorf("healing the cut: %w", err)
			}
		}
		return nil
	}
	// A cut left by a container that died mid-cut goes first, whatever
	// of it was made: the cut starts over rather than fail on the chains.
	for _, r := range undo {
		run(ctx, "iptables", append([]string{"-w"}, r...)...) // each may be missing
	}
	for _, r := range rules {
		if err := run(ctx, "iptables", append([]string{"-w"}, r...)...); err != nil {
			return nil, fmt.Errorf("cutting this namespace off: %w", err)
		}
	}
	return heal, nil
}

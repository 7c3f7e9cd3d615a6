package netns

import (
	"context"
	"fmt"
	"time"
)

// Shaping is what ShapeSelf does to a link.
type Shaping struct {
	// Rate caps what the namespace sends, in bytes a second (tc tbf on
	// the device's egress); 0: no cap.
	Rate int64
	// Loss drops each packet the namespace receives with this
	// probability (an iptables statistic rule); 0: none.
	Loss float64
	// Latency delays each packet the namespace receives (an iptables
	// NFQUEUE rule and a delayer in this process); 0: none.
	Latency time.Duration
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
	case s.Latency < 0:
		return stop, fmt.Errorf("latency %v: want ≥ 0", s.Latency)
	}
	if s.Rate > 0 {
		if err := run(ctx, "tc", tbfArgs(dev, s.Rate)...); err != nil {
			return stop, fmt.Errorf("shaping %s to %d bytes/s: %w", dev, s.Rate, err)
		}
	}
	if (s.Loss > 0 || s.Latency > 0) && LatencyAvailable() != nil {
		return stop, LatencyAvailable()
	}
	if s.Loss > 0 {
		if err := run(ctx, "iptables", lossRule(dev, s.Loss)...); err != nil {
			return stop, fmt.Errorf("dropping %s's packets: %w", dev, err)
		}
	}
	if s.Latency == 0 {
		return stop, nil
	}
	dl, err := startDelayer(s.Latency)
	if err != nil {
		return stop, fmt.Errorf("delaying %s's packets: %w", dev, err)
	}
	if err := run(ctx, "iptables", queueRule(dev)...); err != nil {
		dl.close()
		return stop, fmt.Errorf("delaying %s's packets: %w", dev, err)
	}
	return dl.close, nil
}

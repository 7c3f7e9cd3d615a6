package main

import (
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/netns"
	"github.com/patchnet/patchnet/testnet"
)

// newTestnetShapeCmd builds `patchnet testnet shape`: a rendered pod's
// link shaped as netns mode shapes a node's, from inside the pod.
func newTestnetShapeCmd() *cobra.Command {
	var dev, bandwidth, loss string
	var latency, jitter time.Duration
	cmd := &cobra.Command{
		Use:    "shape --dev DEV [--bandwidth RATE] [--loss SHARE] [--latency D] [--jitter D]",
		Short:  "Shape this network namespace's link (a pod's) as testnet's netns mode shapes a node's",
		Hidden: true,
		Long: `shape caps what DEV sends and what it receives with tc tbf (--bandwidth; what
it receives is redirected through an ifb device, which needs the kernel's
ifb module), drops a share of what it
receives with an iptables statistic rule (--loss) and delays what it
receives by --latency and a uniform share of --jitter, in order (an
iptables NFQUEUE rule and a delayer in this
process), in the network namespace it runs in: a pod's, given
CAP_NET_ADMIN. With a latency or jitter it keeps running, delaying packets, until
SIGTERM (a sidecar); without, it exits once the link is shaped (an init
container). Never run it in a host's own namespace.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := shapingOf(bandwidth, loss, latency, jitter)
			if err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			stop, err := netns.ShapeSelf(ctx, dev, s)
			defer stop()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "shaped %s: %d bytes/s, loss %v, latency %v, jitter %v\n", dev, s.Rate, s.Loss, s.Latency, s.Jitter)
			if s.Latency > 0 || s.Jitter > 0 {
				<-ctx.Done() // the delayer runs until then
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dev, "dev", "eth0", "the link's interface")
	f.StringVar(&bandwidth, "bandwidth", "0", "cap on what the link sends and on what it receives, each e.g. 10Mbit (0: none)")
	f.StringVar(&loss, "loss", "0", "share of what the link receives that is dropped, e.g. 1% (0: none)")
	f.DurationVar(&latency, "latency", 0, "delay of what the link receives (0: none)")
	f.DurationVar(&jitter, "jitter", 0, "each packet's further delay, uniform up to this, without reordering (0: none)")
	return cmd
}

// shapingOf parses shape's flags, bounded as testnet's parameters are.
func shapingOf(bandwidth, loss string, latency, jitter time.Duration) (netns.Shaping, error) {
	var s netns.Shaping
	var err error
	if s.Rate, err = parseBytes("bandwidth", bandwidth, true); err != nil {
		return s, err
	}
	if s.Loss, err = parseShare("loss", loss); err != nil {
		return s, err
	}
	switch {
	case s.Loss > testnet.MaxLoss:
		return s, fmt.Errorf("--loss %v: at most %v", s.Loss, testnet.MaxLoss)
	case latency < 0 || latency > testnet.MaxLatency:
		return s, fmt.Errorf("--latency %v: want 0..%v", latency, testnet.MaxLatency)
	case jitter < 0 || jitter > testnet.MaxLatency:
		return s, fmt.Errorf("--jitter %v: want 0..%v", jitter, testnet.MaxLatency)
	}
	s.Latency, s.Jitter = latency, jitter
	return s, nil
}

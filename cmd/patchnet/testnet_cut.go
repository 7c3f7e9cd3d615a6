package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/netns"
)

// cutResolvePoll is how often `testnet cut` asks DNS again for the pods it
// keeps that have no address yet (they start in any order).
const cutResolvePoll = 2 * time.Second

// newTestnetCutCmd builds `patchnet testnet cut`: the partition scenario's
// cut, made by each pod of the cut side in its own namespace.
func newTestnetCutCmd() *cobra.Command {
	var keep []string
	var open []int
	var hold, resolveFor time.Duration
	var marker, ready string
	cmd := &cobra.Command{
		Use:    "cut --keep HOST... --hold D --marker FILE [--open PORT...]",
		Short:  "Cut this network namespace (a pod's) off from all but the named hosts for a while",
		Hidden: true,
		Long: `cut resolves every --keep host (the pods of its side, as they come up), then
drops every packet to or from any other address but for loopback, DNS and
the --open TCP ports, in the network namespace it runs in: a pod's, given
CAP_NET_ADMIN. After --hold it heals the cut, writes --marker (so a
restarted container does not cut again) and runs on until SIGTERM (a
sidecar). Never run it in a host's own namespace.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return runCut(ctx, cmd.OutOrStdout(), cutOptions{keep: keep, open: open, hold: hold, resolveFor: resolveFor, marker: marker, ready: ready})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&keep, "keep", nil, "a host (name or address) of this side: its packets still pass (repeatable)")
	f.IntSliceVar(&open, "open", nil, "a TCP port that stays open through the cut, both ways (repeatable)")
	f.DurationVar(&hold, "hold", 10*time.Minute, "how long the cut lasts")
	f.DurationVar(&resolveFor, "resolve-timeout", 10*time.Minute, "how long to wait for every --keep host to have an address")
	f.StringVar(&marker, "marker", "", "file written once healed; if it exists, there is no cut (required)")
	f.StringVar(&ready, "ready", "", "file written once the cut is in place (for a startup probe)")
	_ = cmd.MarkFlagRequired("marker")
	return cmd
}

// cutOptions are `testnet cut`'s flags.
type cutOptions struct {
	keep             []string
	open             []int
	hold, resolveFor time.Duration
	marker, ready    string
}

// runCut cuts, holds, heals and waits for ctx to end.
func runCut(ctx context.Context, w io.Writer, o cutOptions) error {
	if _, err := os.Stat(o.marker); err == nil {
		fmt.Fprintln(w, "healed already: no cut")
		<-ctx.Done()
		return nil
	}
	addrs, err := resolveAll(ctx, o.keep, o.resolveFor)
	if err != nil {
		return err
	}
	heal, err := netns.CutSelf(ctx, addrs, o.open)
	if err != nil {
		return err
	}
	if err := writeStamp(o.ready); err != nil {
		return err
	}
	fmt.Fprintf(w, "cut off from all but %d address(es) for %v\n", len(addrs), o.hold)
	select {
	case <-ctx.Done():
	case <-time.After(o.hold):
	}
	if err := heal(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	if err := writeStamp(o.marker); err != nil {
		return err
	}
	fmt.Fprintln(w, "healed")
	<-ctx.Done()
	return nil
}

// writeStamp writes the time into path ("" writes nothing).
func writeStamp(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// resolveAll is every IPv4 address of hosts, waiting up to within for
// each to have one.
func resolveAll(ctx context.Context, hosts []string, within time.Duration) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var out []netip.Addr
	for _, h := range hosts {
		for {
			got, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", h)
			if err == nil && len(got) > 0 {
				out = append(out, got...)
				break
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("resolving %s: %w", h, errors.Join(err, ctx.Err()))
			case <-time.After(cutResolvePoll):
			}
		}
	}
	return out, nil
}

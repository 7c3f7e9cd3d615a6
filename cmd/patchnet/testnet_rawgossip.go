package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/libp2p/go-libp2p"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/testnet/rawgossip"
)

func init() { testnetCmd.AddCommand(newTestnetRawGossipCmd()) }

// newTestnetRawGossipCmd builds the hidden `patchnet testnet
// raw-gossip`: one peer of the raw gossipsub baseline, a plain libp2p
// host with gossipsub at its defaults (no patchnet, no validator), driven
// by its runner through the line protocol of testnet/rawgossip on its
// standard input and output. netns runs one in each node's namespace,
// beside the node, on the same links.
func newTestnetRawGossipCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:    "raw-gossip --listen MULTIADDR",
		Short:  "One peer of the raw gossipsub baseline, driven on standard input (testnet runners)",
		Hidden: true,
		Long: `raw-gossip listens on --listen, prints "listening ADDR", then takes commands
on standard input ("dial ADDR", "publish ROUND SIZE") and prints events
("dialed", "published", "got ROUND UNIXNANO", "counts GRAFTS PRUNES DUPS")
until its input ends. The protocol is testnet/rawgossip's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runRawGossip(ctx, cmd.InOrStdin(), cmd.OutOrStdout(), listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "/ip4/127.0.0.1/tcp/0", "the multiaddr to listen on (the transport the zone's nodes use)")
	return cmd
}

// runRawGossip serves one baseline peer listening on listen.
func runRawGossip(ctx context.Context, in io.Reader, out io.Writer, listen string) error {
	// No resource limits: the baseline is the floor, without the node's.
	h, err := libp2p.New(libp2p.ListenAddrStrings(listen), libp2p.ResourceManager(&lpnet.NullResourceManager{}), libp2p.DisableMetrics())
	if err != nil {
		return fmt.Errorf("starting the raw gossip host on %s: %w", listen, err)
	}
	defer h.Close()
	p, err := rawgossip.New(ctx, h)
	if err != nil {
		return err
	}
	return rawgossip.Serve(ctx, p, in, out)
}

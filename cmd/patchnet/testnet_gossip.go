package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
)

func init() { testnetCmd.AddCommand(newTestnetGossipCmd()) }

// newTestnetGossipCmd builds the hidden `patchnet testnet gossip`: it
// puts an envelope, signed elsewhere, on the zone's announce topic as it
// is. The netns byzantine scenario sends with it what a byzantine
// supernode gossips to the agents (`publish` proposes to the supernodes
// instead, who refuse). It grants nothing: every receiver checks the
// envelope's signatures as it checks anyone's message on the topic, and
// any libp2p program can publish on a topic it joined.
func newTestnetGossipCmd() *cobra.Command {
	var fl nodeFlags
	wait, linger := DefaultPublishWait, DefaultPublishLinger
	cmd := &cobra.Command{
		Use:    "gossip ENVELOPE --config FILE",
		Short:  "Put a signed envelope on the zone's announce topic as it is (the netns byzantine scenario)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := fl.load(cmd)
			if err != nil {
				return err
			}
			raw, err := fsutil.ReadFile(args[0], trust.MaxEnvelopeBytes)
			if err != nil {
				return fmt.Errorf("reading %s: %w", args[0], err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runGossip(ctx, cmd.OutOrStdout(), cfg, raw, wait, linger)
		},
	}
	fl.register(cmd)
	cmd.Flags().DurationVar(&wait, "wait", wait, "how long to wait to join the zone")
	cmd.Flags().DurationVar(&linger, "linger", linger, "how long to stay in the zone after sending it")
	return cmd
}

// runGossip joins the zone on cfg, publishes raw on its announce topic
// and stays linger for gossip to carry it.
func runGossip(ctx context.Context, w io.Writer, cfg node.Config, raw []byte, wait, linger time.Duration) error {
	return withRunningNode(ctx, cfg, func(n *node.Node) error {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		topic := n.Overlay().AnnounceTopic()
		if err := joinZone(wctx, w, n, topic, "peer(s) on the announce topic"); err != nil {
			return err
		}
		if err := n.Overlay().Publish(wctx, topic, raw); err != nil {
			return fmt.Errorf("gossiping the envelope: %w", err)
		}
		fmt.Fprintf(w, "gossiped the envelope on %s; staying %v\n", topic, linger)
		select {
		case <-ctx.Done():
		case <-time.After(linger):
		}
		return nil
	})
}

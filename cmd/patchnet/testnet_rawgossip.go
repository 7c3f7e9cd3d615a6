package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet/k8s"
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

func init() { testnetCmd.AddCommand(newTestnetRawBaselineCmd()) }

// rawBaselineOptions are the flags of `patchnet testnet raw-baseline`.
type rawBaselineOptions struct {
	client            k8s.RawClient
	state, id, listen string
	marker            string
	timeout           time.Duration
}

// newTestnetRawBaselineCmd builds `patchnet testnet raw-baseline`, a
// supernode's or agent's pod's part of the rendered zone's raw gossipsub
// baseline.
func newTestnetRawBaselineCmd() *cobra.Command {
	var o rawBaselineOptions
	cmd := &cobra.Command{
		Use:    "raw-baseline --origin URL --name POD --state DIR --marker FILE [--update-id ID | --supernode]",
		Short:  "Run one raw gossipsub peer of the rendered zone's baseline, coordinated by the vendor origin",
		Hidden: true,
		Long: `raw-baseline starts a plain gossipsub peer (no patchnet) listening on --listen,
waits until the agent of --state installed --update-id (with --supernode,
until its node answers), registers with its node's peer ID at the vendor
origin (serve-origin --raw-peers), and once the origin starts the baseline
dials the raw peers of the nodes its own node is connected to, then posts
its counts and deliveries while the origin publishes the rounds. Then it
idles until stopped (a container that exits is started again); --marker,
written once the origin said it was done, keeps a container started
again from running twice. --timeout bounds the whole.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSidecar(cmd, func(ctx context.Context, w io.Writer) error { return runRawBaseline(ctx, w, o) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.client.Origin, "origin", "", "the vendor origin's URL (required)")
	f.StringVar(&o.client.Name, "name", "", "this peer's name, its pod (required)")
	f.BoolVar(&o.client.Supernode, "supernode", false, "this is a supernode's pod: start once its node answers")
	f.StringVar(&o.state, "state", "", "the node's state directory, whose API gives its peers (required)")
	f.StringVar(&o.id, "update-id", "", "the update an agent must have installed first")
	f.StringVar(&o.listen, "listen", "/ip4/0.0.0.0/tcp/0", "the multiaddr the raw peer listens on")
	f.StringVar(&o.marker, "marker", "", "file written once the origin said the baseline was done (required)")
	f.DurationVar(&o.timeout, "timeout", time.Hour, "give up after this long")
	for _, name := range []string{"origin", "name", "state", "marker"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// runRawBaseline is the pod's raw peer, unless the marker says it ran.
func runRawBaseline(ctx context.Context, w io.Writer, o rawBaselineOptions) error {
	if _, err := os.Stat(o.marker); err == nil {
		fmt.Fprintf(w, "the raw baseline was run before (%s)\n", o.marker)
		return nil
	}
	if !o.client.Supernode && o.id == "" {
		return errors.New("--update-id: required for an agent's pod (or --supernode)")
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	h, err := libp2p.New(libp2p.ListenAddrStrings(o.listen), libp2p.ResourceManager(&lpnet.NullResourceManager{}), libp2p.DisableMetrics())
	if err != nil {
		return fmt.Errorf("starting the raw gossip host on %s: %w", o.listen, err)
	}
	defer h.Close()
	p, err := rawgossip.New(ctx, h)
	if err != nil {
		return err
	}
	if err := waitRawNode(ctx, w, o); err != nil {
		return err
	}
	if !o.client.Supernode { // the rounds carry what gossip carried
		st, err := k8s.FetchStatus(ctx, o.state)
		if err != nil {
			return err
		}
		o.client.MessageBytes = int(k8s.AnnouncementBytes(st, o.id))
	}
	o.client.Node, o.client.Log = k8s.NodePeers(o.state), w
	if err := o.client.Run(ctx, p); err != nil {
		return err
	}
	if err := os.WriteFile(o.marker, nil, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.marker, err)
	}
	return nil
}

// waitRawNode waits until the agent installed the update, or a
// supernode's node answers.
func waitRawNode(ctx context.Context, w io.Writer, o rawBaselineOptions) error {
	if !o.client.Supernode {
		fmt.Fprintf(w, "waiting for the agent to install %s\n", o.id)
		return k8s.WaitForEvent(ctx, []string{o.state}, o.id, node.EventInstalled, testnetWaitPoll, nil)
	}
	fmt.Fprintln(w, "waiting for the supernode to answer")
	for {
		_, err := k8s.FetchStatus(ctx, o.state)
		if err == nil {
			return nil
		}
		if err := duration.Sleep(ctx, testnetWaitPoll); err != nil {
			return fmt.Errorf("waiting for the supernode at %s: %w", o.state, err)
		}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	lp2phost "github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/testnet"
)

func init() { testnetCmd.AddCommand(newTestnetFloodCmd()) }

// DefaultFloodRate is the messages a second each flooding peer sends:
// hundreds of times the zone's own announcements, while the flooder's
// process leaves the daemons beside it their share of the machine.
const DefaultFloodRate = 200

// floodOptions are the flags of `patchnet testnet flood`.
type floodOptions struct {
	zone, listen string
	peers        []string
	rate         int
	wait         time.Duration
}

// newTestnetFloodCmd builds the hidden `patchnet testnet flood`, the
// netns flood scenario's attacker: two libp2p peers outside the zone's
// PKI join its announce topic next to the given nodes. The forger sends
// forged announcements (testnet.Forger) from the start; the replayer
// waits for a real announcement and sends it again in every shape that
// adds nothing (testnet.Replays). It grants nothing: it is what any
// libp2p program can send on a topic it joined, and it is here so that
// the scenario runs the same attack as the sim's against real daemons.
func newTestnetFloodCmd() *cobra.Command {
	o := floodOptions{listen: "/ip4/0.0.0.0/tcp/0", rate: DefaultFloodRate, wait: DefaultPublishWait}
	cmd := &cobra.Command{
		Use:    "flood --zone NAME --peer ADDR...",
		Short:  "Flood a zone's announce topic from outside its PKI (the netns flood scenario)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.zone == "" || len(o.peers) == 0 || o.rate < 1 || o.rate > testnet.MaxFloodRate {
				return fmt.Errorf("flood: needs --zone, at least one --peer and --rate 1 to %d (have zone %q, %d peers, rate %d)",
					testnet.MaxFloodRate, o.zone, len(o.peers), o.rate)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runFlood(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.zone, "zone", "", "the zone whose announce topic to flood")
	f.StringSliceVar(&o.peers, "peer", nil, "a node to flood, as a multiaddr ending in /p2p/ID (repeat)")
	f.StringVar(&o.listen, "listen", o.listen, "the flooding peers' listen multiaddr")
	f.IntVar(&o.rate, "rate", o.rate, "messages a second, each peer")
	f.DurationVar(&o.wait, "wait", o.wait, "how long to wait for the peers and for a real announcement")
	return cmd
}

// floodPeer is one of the flooding peers: a host on the announce topic.
type floodPeer struct {
	h     lp2phost.Host
	topic *pubsub.Topic
}

// newFloodPeer starts a host listening on listen, with gossipsub's
// defaults, joined to topic.
func newFloodPeer(ctx context.Context, listen, topic string) (*floodPeer, error) {
	h, err := libp2p.New(libp2p.ListenAddrStrings(listen))
	if err != nil {
		return nil, fmt.Errorf("flood: starting a host: %w", err)
	}
	ps, err := pubsub.NewGossipSub(ctx, h)
	if err == nil {
		var t *pubsub.Topic
		if t, err = ps.Join(topic); err == nil {
			return &floodPeer{h: h, topic: t}, nil
		}
	}
	h.Close()
	return nil, fmt.Errorf("flood: joining %s: %w", topic, err)
}

// join connects p to peers, each tried again every floodRedial until
// ctx ends (a rendered flooder Job starts beside its targets, whose
// nodes may not listen yet), and waits until every one is on the topic.
func (p *floodPeer) join(ctx context.Context, peers []peer.AddrInfo, w io.Writer) error {
	for _, ai := range peers {
		if err := p.connect(ctx, ai, w); err != nil {
			return err
		}
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for len(p.topic.ListPeers()) < len(peers) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("flood: %d of %d peers on the topic: %w", len(p.topic.ListPeers()), len(peers), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// connect dials ai until it answers or ctx ends, past the swarm's dial
// backoff (a refused dial would otherwise be refused again for a while),
// saying on w when the first try failed.
func (p *floodPeer) connect(ctx context.Context, ai peer.AddrInfo, w io.Writer) error {
	for try := 0; ; try++ {
		err := p.h.Connect(network.WithForceDirectDial(ctx, "flood: the target may still be starting"), ai)
		if err == nil {
			return nil
		}
		if try == 0 {
			fmt.Fprintf(w, "%s does not answer yet; dialling again every %v\n", ai.ID, floodRedial)
		}
		if serr := duration.Sleep(ctx, floodRedial); serr != nil {
			return fmt.Errorf("flood: connecting to %s: %w (last try: %v)", ai.ID, serr, err)
		}
	}
}

// floodRedial is how soon the flooder dials a target that refused again.
const floodRedial = time.Second

// runFlood starts the forger and the replayer next to o.peers, prints
// "ready", floods until the replayer sent every replay of the first real
// announcement it heard, prints what each sent, and keeps its connections
// until ctx ends: a node that no longer lists a flooder among its peers
// dropped it.
func runFlood(ctx context.Context, w io.Writer, o floodOptions) error {
	forger, err := testnet.NewForger(o.zone)
	if err != nil {
		return err
	}
	peers, err := addrInfos(o.peers)
	if err != nil {
		return err
	}
	fp, rp, err := startFloodPeers(ctx, o.listen, overlay.AnnounceTopic(o.zone))
	if err != nil {
		return err
	}
	defer fp.h.Close()
	defer rp.h.Close()
	sub, err := rp.topic.Subscribe()
	if err != nil {
		return fmt.Errorf("flood: subscribing: %w", err)
	}
	fmt.Fprintf(w, "forger %s\n", fp.h.ID())
	if len(rp.h.Addrs()) == 0 {
		return fmt.Errorf("flood: no listen address on %s", o.listen)
	}
	fmt.Fprintf(w, "listening on %s/p2p/%s\n", rp.h.Addrs()[0], rp.h.ID())
	jctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	if err := errors.Join(fp.join(jctx, peers, w), rp.join(jctx, peers, w)); err != nil {
		return err
	}
	fmt.Fprintln(w, "ready")
	forged, replayed, err := testnet.Flood(jctx, forger, fp.topic, rp.topic, testnet.HeardAnnouncement(jctx, sub, rp.h.ID()), o.rate,
		func(n int) { fmt.Fprintf(w, "heard an announcement; replaying it %d ways\n", n) })
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "sent %d forgeries and %d replays\n", forged, replayed)
	<-ctx.Done()
	return nil
}

// startFloodPeers starts the forger's and the replayer's hosts.
func startFloodPeers(ctx context.Context, listen, topic string) (*floodPeer, *floodPeer, error) {
	fp, err := newFloodPeer(ctx, listen, topic)
	if err != nil {
		return nil, nil, err
	}
	rp, err := newFloodPeer(ctx, listen, topic)
	if err != nil {
		fp.h.Close()
		return nil, nil, err
	}
	return fp, rp, nil
}

// addrInfos parses multiaddrs ending in /p2p/ID.
func addrInfos(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("flood: peer %q: %w", a, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

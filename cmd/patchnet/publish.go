package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

func init() { rootCmd.AddCommand(newPublishCmd()) }

// Bounds of `patchnet publish`.
const (
	// DefaultPublishWait bounds joining the zone and, for an announcement,
	// waiting for k co-signatures.
	DefaultPublishWait = 2 * time.Minute
	// DefaultPublishLinger is how long a CRL's publisher stays in the zone
	// after sending it, so gossip carries it on (there is no receipt).
	DefaultPublishLinger = 3 * time.Second
	// publishPoll is how often progress is looked at.
	publishPoll = 100 * time.Millisecond
)

// publishOptions are publish's inputs besides the node config.
type publishOptions struct {
	input, artifact, crl string
	wait, linger         time.Duration
}

func newPublishCmd() *cobra.Command {
	var fl nodeFlags
	var opts publishOptions
	cmd := &cobra.Command{
		Use:   "publish ANNOUNCEMENT|ENVELOPE --artifact FILE --config FILE  |  publish --crl FILE --config FILE",
		Short: "Publish an update (or a CRL) into a running zone and wait for its co-signatures",
		Long: `publish joins the zone as a node with the publisher's certificate (the
config is a node config: state, key, cert, roots, CRLs, zone, bootstrap peers,
private-zone key), then:

- with ANNOUNCEMENT (JSON, as 'patchnet update new' writes it): signs it with
  the publisher's key, seeds --artifact to the zone (its size, SHA-256 and
  content id must be the announced ones), offers the proposal to the zone's
  supernodes and prints each co-signature as it arrives; it exits 0 once k
  (threshold) supernodes co-signed, non-zero after --wait with what it saw.
  Each supernode fetches the artifact itself from the vendor origins its
  [cosign] policy binds to the publisher, so the artifact's URLs must be
  there: --artifact only seeds peers.
- with ENVELOPE (already signed, 'patchnet update sign'): the same, without
  signing again.
- with --crl FILE: sends a zone CA's or the root's CRL (PEM or DER) on the
  zone's CRL topic and stays --linger for gossip to carry it.`,
		Example: `  patchnet publish fix.json --artifact hello_2.0-1_all.deb --config /etc/patchnet/publisher.toml
  patchnet publish fix.dsse --artifact hello_2.0-1_all.deb --config publisher.toml --wait 5m
  patchnet publish --crl zone-acme/zone.crl --config publisher.toml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := fl.load(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				opts.input = args[0]
			} else if cmd.Flags().Changed("crl") {
				opts.crl = fl.crl[len(fl.crl)-1] // without an announcement, --crl names the CRL to send
			}
			if (opts.input == "") == (opts.crl == "") {
				return errors.New("publish takes an announcement or envelope file, or --crl FILE (see --help)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runPublish(ctx, cmd.OutOrStdout(), cfg, opts)
		},
	}
	fl.register(cmd)
	f := cmd.Flags()
	f.StringVar(&opts.artifact, "artifact", "", "the artifact file, seeded to the zone's peers while publish runs")
	f.DurationVar(&opts.wait, "wait", DefaultPublishWait, "how long to wait to join the zone and for k co-signatures")
	f.DurationVar(&opts.linger, "linger", DefaultPublishLinger, "with --crl: how long to stay in the zone after sending it")
	return cmd
}

// runPublish starts the publisher's node, joins the zone and publishes.
func runPublish(ctx context.Context, w io.Writer, cfg node.Config, opts publishOptions) error {
	cfg.Install.RequireToolPins = false // a publisher installs nothing
	n, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, opts.wait)
	defer wcancel()
	if opts.crl != "" {
		return publishCRL(wctx, w, n, opts)
	}
	if !n.IsPublisher() {
		return roleMismatch(cfg.Cert, n.Identity().Roles, trust.RolePublisher)
	}
	return publishUpdate(wctx, w, n, cfg, opts)
}

// joinZone waits until the node has a peer on topic.
func joinZone(ctx context.Context, w io.Writer, n *node.Node, topic, what string) error {
	for len(n.Overlay().TopicPeers(topic)) == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("joining zone %s: no %s reachable before the deadline (check overlay.bootstrap_peers and the zone's key): %w",
				n.Identity().Zone, what, ctx.Err())
		case <-time.After(publishPoll):
		}
	}
	fmt.Fprintf(w, "joined zone %s as %s: %d peer(s), %d %s\n", n.Identity().Zone, n.ID(), len(n.Overlay().Peers()),
		len(n.Overlay().TopicPeers(topic)), what)
	return nil
}

// publishCRL sends the CRL file and lingers while gossip carries it.
func publishCRL(ctx context.Context, w io.Writer, n *node.Node, opts publishOptions) error {
	crl, err := trust.ReadCRLFile(opts.crl)
	if err != nil {
		return err
	}
	if err := joinZone(ctx, w, n, n.Overlay().CRLTopic(), "peer(s) on the CRL topic"); err != nil {
		return err
	}
	if err := n.PublishCRL(ctx, crl); err != nil {
		return err
	}
	fmt.Fprintf(w, "published CRL %s to zone %s; staying %v for gossip to carry it\n", opts.crl, n.Identity().Zone, opts.linger)
	select {
	case <-ctx.Done():
	case <-time.After(opts.linger):
	}
	return nil
}

// publishUpdate signs (if need be), seeds and publishes the update, then
// waits for k co-signatures.
func publishUpdate(ctx context.Context, w io.Writer, n *node.Node, cfg node.Config, opts publishOptions) error {
	raw, err := fsutil.ReadFile(opts.input, trust.MaxEnvelopeBytes)
	if err != nil {
		return fmt.Errorf("reading %s: %w", opts.input, err)
	}
	if err := joinZone(ctx, w, n, n.Overlay().SupernodesTopic(), "supernode(s)"); err != nil {
		return err
	}
	env, a, err := proposal(ctx, n, raw, opts.artifact)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "published %s version %d (%s) to the supernodes; waiting for %d co-signature(s)\n", a.ID, a.Patchnet.Version, orNone(a.Summary), cfg.Threshold)
	return awaitCoSigners(ctx, w, n, env, cfg.Threshold)
}

// proposal seeds the artifact and publishes raw: an announcement, signed
// here, or an envelope signed already. It returns the published envelope.
func proposal(ctx context.Context, n *node.Node, raw []byte, artifact string) ([]byte, *updates.Announcement, error) {
	if looksLikeAnnouncement(raw) {
		a, err := updates.DecodeAnnouncement(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the announcement: %w", err)
		}
		if err := seed(ctx, n, a, artifact); err != nil {
			return nil, nil, err
		}
		env, err := n.Publish(ctx, a)
		return env, a, err
	}
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the envelope: %w", err)
	}
	a, err := updates.DecodeAnnouncement(env.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the envelope's announcement: %w", err)
	}
	if err := seed(ctx, n, a, artifact); err != nil {
		return nil, nil, err
	}
	return raw, a, n.PublishEnvelope(ctx, raw)
}

// seed imports the artifact into the node's content store, to be served
// to the zone while publish runs, after checking it is the announced one.
func seed(ctx context.Context, n *node.Node, a *updates.Announcement, path string) error {
	art := a.Patchnet.Artifact
	if path == "" || art == nil {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the artifact: %w", err)
	}
	if int64(len(b)) != art.Size || sha256.Sum256(b) != art.SHA256 {
		return fmt.Errorf("%w: %s is %d bytes with SHA-256 %x; %s announces %d bytes, %s",
			trust.ErrDigestMismatch, path, len(b), sha256.Sum256(b), a.ID, art.Size, art.SHA256)
	}
	cid, err := n.AddArtifact(ctx, path)
	if err != nil {
		return err
	}
	if art.ContentID != "" && cid != art.ContentID {
		return fmt.Errorf("%w: %s has content id %s, the announcement says %s", trust.ErrDigestMismatch, path, cid, art.ContentID)
	}
	return nil
}

// awaitCoSigners prints each supernode co-signature of env as the node
// merges it, until k count or ctx ends.
func awaitCoSigners(ctx context.Context, w io.Writer, n *node.Node, env []byte, k int) error {
	seen := map[peer.ID]bool{}
	counted := 0
	for {
		ids, err := n.CoSigners(env)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if seen[id.PeerID] {
				continue
			}
			seen[id.PeerID] = true
			note := ""
			if id.CRLCurrent {
				counted++
			} else {
				note = " (not counted here yet: no current CRL of its zone CA and root)"
			}
			fmt.Fprintf(w, "  co-signed by supernode %s (%d/%d)%s\n", id.PeerID, counted, k, note)
		}
		if counted >= k {
			fmt.Fprintf(w, "%d supernode(s) co-signed: agents of the zone accept it now\n", counted)
			return nil
		}
		select {
		case <-ctx.Done():
			return coSignTimeout(n, seen, counted, k)
		case <-time.After(publishPoll):
		}
	}
}

// coSignTimeout says what was missing when the wait ended.
func coSignTimeout(n *node.Node, seen map[peer.ID]bool, counted, k int) error {
	var silent []string
	for _, p := range n.Overlay().TopicPeers(n.Overlay().SupernodesTopic()) {
		if !seen[p] {
			silent = append(silent, p.String())
		}
	}
	slices.Sort(silent)
	return fmt.Errorf("only %d of %d co-signatures before the deadline; supernodes that did not co-sign: %s (each says why in its log and `patchnet status`: "+
		"most often the artifact's URLs are outside its [cosign] origins for this publisher, or the vendor's signature is missing)",
		counted, k, orNone(strings.Join(silent, ", ")))
}

// looksLikeAnnouncement tells a bare announcement (JSON with an id) from a
// signed envelope.
func looksLikeAnnouncement(raw []byte) bool {
	_, err := trust.ParseEnvelope(raw)
	return err != nil && strings.Contains(string(raw), `"patchnet"`)
}

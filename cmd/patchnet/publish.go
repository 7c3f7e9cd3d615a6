package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
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
	// publishPoll is how often merged co-signatures are looked at.
	publishPoll = 100 * time.Millisecond
	// publishStatusPoll is how often the supernodes are asked how the
	// proposal stands: a few small streams per supernode and minute.
	publishStatusPoll = time.Second
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
  supernodes and prints each co-signature as it arrives, and what each
  supernode it is connected to says of the proposal (checking the artifact at
  the vendor's origin, checked, or refused and why: a signed answer over
  /patchnet/cosign-status/1.0.0); it exits 0 once k (threshold) supernodes
  co-signed, non-zero with every refusal's reason as soon as the connected
  supernodes have all answered and too many refused for k, or after --wait
  with what it saw.
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
	return withRunningNode(ctx, cfg, func(n *node.Node) error {
		wctx, wcancel := context.WithTimeout(ctx, opts.wait)
		defer wcancel()
		if opts.crl != "" {
			return publishCRL(wctx, w, n, opts)
		}
		if !n.IsPublisher() {
			return roleMismatch(cfg.Cert, n.Identity().Roles, trust.RolePublisher)
		}
		err := publishUpdate(wctx, w, n, cfg, opts)
		if opts.artifact != "" {
			// The seeder's egress, for operators and testnet's origin count
			// (testnet/netns parses this line: keep its words).
			fmt.Fprintf(w, "served %d artifact bytes to peers\n", n.ServedBytes())
		}
		return err
	})
}

// withRunningNode starts a node on cfg that installs nothing, runs body
// with it while it runs, and stops it.
func withRunningNode(ctx context.Context, cfg node.Config, body func(*node.Node) error) error {
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
	return body(n)
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
// merges it, and each supernode's progress as it tells it (checking the
// artifact, checked, refused and why), until k count, until every
// supernode connected answered and too many refused for k, or until ctx
// ends.
func awaitCoSigners(ctx context.Context, w io.Writer, n *node.Node, env []byte, k int) error {
	cw := &cosignWatch{w: w, n: n, env: env, k: k, seen: map[peer.ID]bool{}, states: map[peer.ID]node.ProposalState{},
		reasons: map[peer.ID]string{}, errs: map[peer.ID]bool{}}
	var asked time.Time
	for {
		if err := cw.merged(); err != nil {
			return err
		}
		if cw.counted >= k {
			fmt.Fprintf(w, "%d supernode(s) co-signed: agents of the zone accept it now\n", cw.counted)
			return nil
		}
		if time.Since(asked) >= publishStatusPoll {
			asked = time.Now()
			if err := cw.progress(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return coSignTimeout(n, cw)
		case <-time.After(publishPoll):
		}
	}
}

// cosignWatch follows one proposal's co-signatures and each supernode's
// progress on it.
type cosignWatch struct {
	w       io.Writer
	n       *node.Node
	env     []byte
	k       int
	seen    map[peer.ID]bool // co-signatures merged
	counted int
	states  map[peer.ID]node.ProposalState // what each supernode said last
	reasons map[peer.ID]string             // why each refusing supernode refused
	errs    map[peer.ID]bool               // supernodes whose status could not be had (said once)
}

// merged prints the co-signatures merged since last time.
func (cw *cosignWatch) merged() error {
	ids, err := cw.n.CoSigners(cw.env)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if cw.seen[id.PeerID] {
			continue
		}
		cw.seen[id.PeerID] = true
		note := ""
		if id.CRLCurrent {
			cw.counted++
		} else {
			note = " (not counted here yet: no current CRL of its zone CA and root)"
		}
		fmt.Fprintf(cw.w, "  co-signed by supernode %s (%d/%d)%s\n", id.PeerID, cw.counted, cw.k, note)
	}
	return nil
}

// progress asks the connected supernodes how the proposal stands, prints
// what changed, and fails once every one of them answered for good and
// too many refused for k co-signatures to come from them.
func (cw *cosignWatch) progress(ctx context.Context) error {
	answers, err := cw.n.CoSignProgress(ctx, cw.env)
	if err != nil || ctx.Err() != nil {
		return err
	}
	final, refused := true, 0
	for _, a := range answers {
		if a.Err != nil {
			if !cw.errs[a.Peer] {
				cw.errs[a.Peer] = true
				fmt.Fprintf(cw.w, "  supernode %s: no progress to show: %v\n", a.Peer, a.Err)
			}
			final = false
			continue
		}
		st := a.Status
		final = final && st.State.Final()
		if st.State == node.ProposalRefused {
			refused++
		}
		if cw.states[a.Peer] == st.State {
			continue
		}
		cw.states[a.Peer] = st.State
		delete(cw.reasons, a.Peer) // a supernode retrying (the vendor back) no longer refuses
		switch st.State {
		case node.ProposalChecking:
			fmt.Fprintf(cw.w, "  supernode %s: fetching the artifact from the vendor's origin and checking it\n", a.Peer)
		case node.ProposalWaiting:
			fmt.Fprintf(cw.w, "  supernode %s: waiting: another payload of this version reached it first and is being checked (if not yours, your publisher key may be in other hands)\n", a.Peer)
		case node.ProposalChecked:
			fmt.Fprintf(cw.w, "  supernode %s: artifact fetched and checked; co-signing\n", a.Peer)
		case node.ProposalRefused:
			cw.reasons[a.Peer] = st.Reason
			fmt.Fprintf(cw.w, "  supernode %s refused: %s\n", a.Peer, st.Reason)
		}
	}
	if final && refused > 0 && len(answers)-refused < cw.k {
		// Supernodes of the zone this node is not connected to may still
		// co-sign what gossip brings them: say so rather than "never".
		return &notCoSignedError{fmt.Sprintf("%d of the %d supernode(s) connected refused to co-sign, so %d co-signature(s) cannot come from them "+
			"(the proposal stays out: supernodes not connected here may still co-sign it): %s",
			refused, len(answers), cw.k, cw.refusals())}
	}
	return nil
}

// notCoSignedError is publish's failure once it published: the proposal
// did not get k co-signatures (refused, or not before --wait).
type notCoSignedError struct{ msg string }

// Error is what publish says of the shortfall.
func (e *notCoSignedError) Error() string { return e.msg }

// refusals lists each refusing supernode with its reason.
func (cw *cosignWatch) refusals() string {
	var out []string
	for _, p := range slices.Sorted(maps.Keys(cw.reasons)) {
		out = append(out, fmt.Sprintf("supernode %s: %s", p, cw.reasons[p]))
	}
	return strings.Join(out, "; ")
}

// coSignTimeout says what was missing when the wait ended: the supernodes
// that refused and why, and those that said nothing.
func coSignTimeout(n *node.Node, cw *cosignWatch) error {
	var silent []string
	for _, p := range n.Overlay().TopicPeers(n.Overlay().SupernodesTopic()) {
		if _, refused := cw.reasons[p]; !cw.seen[p] && !refused {
			silent = append(silent, p.String())
		}
	}
	slices.Sort(silent)
	refused := ""
	if len(cw.reasons) > 0 {
		refused = "; refused: " + cw.refusals()
	}
	return &notCoSignedError{fmt.Sprintf("only %d of %d co-signatures before the deadline%s; supernodes that did not co-sign nor refuse: %s (each says why in its log and `patchnet status`: "+
		"most often the artifact's URLs are outside its [cosign] origins for this publisher, or the vendor's signature is missing)",
		cw.counted, cw.k, refused, orNone(strings.Join(silent, ", ")))}
}

// looksLikeAnnouncement tells a bare announcement (JSON with an id) from a
// signed envelope.
func looksLikeAnnouncement(raw []byte) bool {
	_, err := trust.ParseEnvelope(raw)
	return err != nil && strings.Contains(string(raw), `"patchnet"`)
}

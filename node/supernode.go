package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/origin"
)

// considerCoSigning treats an announcement seen on the announce topic (by
// gossip or catch-up) as a proposal when this supernode has not co-signed its
// id at this version or later (a reservation not done, left by a crash,
// does not count): a supernode that was offline when the publisher sent it
// catches up and still vouches for it.
func (n *Node) considerCoSigning(va *verifiedAnnouncement) {
	a := va.Accepted.Announcement
	if rec, ok, err := n.cosigner.records.get(a.ID); err != nil || (ok && rec.Version > a.Patchnet.Version) ||
		(ok && rec.Version == a.Patchnet.Version && rec.Done) {
		return
	}
	n.onProposal(n.runCtx, va)
}

// onProposal handles a verified announcement from the supernodes' topic: a
// supernode checks the artifact on its own, and only then co-signs and
// republishes it on the announce topic. Co-signing runs in the background
// so one slow artifact does not hold up the next proposal.
func (n *Node) onProposal(ctx context.Context, va *verifiedAnnouncement) {
	acc := va.Accepted
	a := acc.Announcement
	err := n.cosigner.records.reserve(a.ID, a.Patchnet.Version, acc.Digest, va)
	switch {
	case errors.Is(err, errOtherInFlight):
		// Parked: its publisher sees that some other payload of the
		// version came first (a key thief's, or its own earlier one).
		n.noteProposal(acc.Digest, ProposalWaiting, err)
		if d := displacedBy(err); d != nil {
			n.refuseProposal(d.Accepted, errDisplaced)
		}
		return
	case errors.Is(err, errAlreadyCoSigned):
		n.gatherHeard(ctx, keyOf(va.Envelope)) // another supernode's co-signature
		return
	case err != nil:
		n.refuseProposal(acc, err)
		return
	}
	n.noteProposal(acc.Digest, ProposalChecking, nil)
	n.wg.Go(func() {
		if err := n.coSign(ctx, va); err != nil {
			n.cosigner.records.release(a.ID, a.Patchnet.Version, acc.Digest)
			n.refuseProposal(acc, err)
		}
		// A payload of this version that arrived during the check.
		if next := n.cosigner.records.unpark(a.ID, a.Patchnet.Version); next != nil {
			n.onProposal(ctx, next)
		}
	})
}

// coSign checks the artifact at the vendor's origin, then adds this
// supernode's signature to every signature merged for the payload and
// sends the result to the other supernodes (the node's own validator
// merges it on the way out); the agents get it when k co-signatures are
// together (gather.go).
func (n *Node) coSign(ctx context.Context, va *verifiedAnnouncement) error {
	a := va.Accepted.Announcement
	if err := n.checkArtifact(ctx, va.Accepted); err != nil {
		return fmt.Errorf("not co-signing %s version %d: %w", a.ID, a.Patchnet.Version, err)
	}
	n.noteProposal(va.Accepted.Digest, ProposalChecked, nil)
	env := va.Envelope
	if cur := n.merge.view(keyOf(env)); cur != nil {
		env = cur.Envelope // co-signatures merged while the artifact was checked
	}
	if err := n.creds.Sign(env); err != nil {
		return fmt.Errorf("co-signing: %w", err)
	}
	out, err := env.Marshal()
	if err != nil {
		return err
	}
	if err := n.ov.Publish(ctx, n.ov.SupernodesTopic(), out); err != nil {
		return fmt.Errorf("publishing co-signed %s: %w", a.ID, err)
	}
	if err := n.cosigner.records.done(a.ID, a.Patchnet.Version, va.Accepted.Digest); err != nil {
		return err
	}
	n.gatherOwn(ctx, keyOf(env))
	n.noteProposal(va.Accepted.Digest, ProposalCoSigned, nil)
	n.emit(Event{Kind: EventCoSigned, ID: a.ID, Version: a.Patchnet.Version,
		Detail: fmt.Sprintf("co-signed after checking %s", artifactText(a))})
	return nil
}

// checkArtifact obtains acc's artifact independently from the vendor's
// origin, as the [cosign] policy of its publisher allows, never from peers
// or from the publisher; checks its size, SHA-256 and the vendor's
// signature; checks that its content id is the announced one; and serves
// it to the zone's peers from then on.
func (n *Node) checkArtifact(ctx context.Context, acc *updates.Accepted) error {
	a := acc.Announcement
	art := a.Patchnet.Artifact
	if art == nil {
		return nil
	}
	c, err := n.originChecker(acc)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(n.cosignDir(), "check-")
	if err != nil {
		return fmt.Errorf("creating a download directory: %w", err)
	}
	defer os.RemoveAll(dir)
	fctx, cancel := context.WithTimeout(ctx, time.Duration(n.cfg.FetchTimeout))
	defer cancel()
	report, err := c.Check(fctx, art, dir)
	if err != nil {
		return fmt.Errorf("checking the artifact at the vendor's origin: %w", err)
	}
	if err := n.seed(ctx, report.Path, art); err != nil {
		return err
	}
	// Noted once the vendor's bytes passed: a proposal whose artifact fails
	// the check (a stolen publisher key's) must not supersede the real one's.
	n.noteHeld(a)
	n.emit(Event{Kind: EventFetched, ID: a.ID, Version: a.Patchnet.Version, Source: "vendor", Detail: report.Summary(),
		SourceBytes: map[string]int64{"vendor": art.Size}}) // the check verified the size
	return nil
}

// originChecker is the origin policy of acc's publisher: its own entry,
// else "*". Without one the supernode cannot confirm anything and refuses.
func (n *Node) originChecker(acc *updates.Accepted) (*origin.Checker, error) {
	for _, p := range acc.Publishers {
		if c, ok := n.cosigner.checkers[p.PeerID.String()]; ok {
			return c, nil
		}
	}
	if c, ok := n.cosigner.checkers["*"]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: no [cosign.publishers] entry for publisher %s (nor \"*\"): no vendor origin to check its artifact against",
		origin.ErrOutsideOrigins, subjects(acc.Publishers))
}

// cosignDir is where a supernode downloads artifacts it checks.
func (n *Node) cosignDir() string {
	dir := filepath.Join(n.cfg.State, "cosign")
	os.MkdirAll(dir, 0o700)
	return dir
}

// seed imports the verified artifact at path into the content store, so
// this supernode serves it to the zone, and checks that its content id is
// the one announced: agents fetch by that id, so bytes other than the
// vendor's must never hide behind it.
func (n *Node) seed(ctx context.Context, path string, art *updates.Artifact) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("seeding the checked artifact: %w", err)
	}
	defer f.Close()
	c, err := n.content.Add(ctx, f)
	if err != nil {
		return fmt.Errorf("seeding the checked artifact: %w", err)
	}
	if art.ContentID != "" && c.String() != art.ContentID {
		return fmt.Errorf("%w: the vendor's bytes have content id %s, the announcement says %s", trust.ErrDigestMismatch, c, art.ContentID)
	}
	return nil
}

// artifactText names an announcement's artifact for event details.
func artifactText(a *updates.Announcement) string {
	art := a.Patchnet.Artifact
	if art == nil {
		return "the announcement (no artifact)"
	}
	return fmt.Sprintf("%s (%d bytes, sha256 %s…)", art.Name, art.Size, art.SHA256.String()[:16])
}

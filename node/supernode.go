package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/patchnet/patchnet/updates"
)

// considerCoSigning treats an announcement seen on the announce topic (by
// gossip or catch-up) as a proposal when this supernode has not co-signed its
// id at this version or later (a reservation not done, left by a crash,
// does not count): a supernode that was offline when the publisher sent it
// catches up and still vouches for it.
func (n *Node) considerCoSigning(va *verifiedAnnouncement) {
	a := va.Accepted.Announcement
	if rec, ok, err := n.cosigned.get(a.ID); err != nil || (ok && rec.Version > a.Patchnet.Version) ||
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
	if err := n.cosigned.reserve(a.ID, a.Patchnet.Version, acc.Digest); err != nil {
		if !errors.Is(err, errAlreadyCoSigned) {
			n.emit(Event{Kind: EventRefused, ID: a.ID, Version: a.Patchnet.Version, Detail: err.Error()})
		}
		return
	}
	n.wg.Go(func() {
		if err := n.coSign(ctx, va); err != nil {
			n.cosigned.release(a.ID, a.Patchnet.Version, acc.Digest)
			n.emit(Event{Kind: EventRefused, ID: a.ID, Version: a.Patchnet.Version, Detail: err.Error()})
		}
	})
}

// coSign checks the artifact, then adds this supernode's signature to every
// signature merged for the payload and publishes the result; the node's
// own validator merges it on the way out.
func (n *Node) coSign(ctx context.Context, va *verifiedAnnouncement) error {
	a := va.Accepted.Announcement
	if err := n.checkArtifact(ctx, a); err != nil {
		return fmt.Errorf("not co-signing %s version %d: %w", a.ID, a.Patchnet.Version, err)
	}
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
	if err := n.ov.Publish(ctx, n.ov.AnnounceTopic(), out); err != nil {
		return fmt.Errorf("publishing co-signed %s: %w", a.ID, err)
	}
	if err := n.cosigned.done(a.ID, a.Patchnet.Version, va.Accepted.Digest); err != nil {
		return err
	}
	n.emit(Event{Kind: EventCoSigned, ID: a.ID, Version: a.Patchnet.Version,
		Detail: fmt.Sprintf("co-signed after checking %s", artifactText(a))})
	return nil
}

// checkArtifact fetches a's artifact and checks its size and SHA-256.
func (n *Node) checkArtifact(ctx context.Context, a *updates.Announcement) error {
	art := a.Patchnet.Artifact
	if art == nil {
		return nil
	}
	fctx, cancel := context.WithTimeout(ctx, time.Duration(n.cfg.FetchTimeout))
	defer cancel()
	res, err := n.fetch(fctx, art, io.Discard)
	if err != nil {
		return err
	}
	n.emit(Event{Kind: EventFetched, ID: a.ID, Version: a.Patchnet.Version, Source: res.source, From: res.from, Detail: res.detail})
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

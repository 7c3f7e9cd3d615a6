package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/updates"
)

// considerCoSigning treats an announcement seen on the announce topic (by
// gossip or catch-up) as a proposal when this supernode has not co-signed its
// id at this version or later (a reservation not done, left by a crash,
// does not count): a supernode that was offline when the publisher sent it
// catches up and still vouches for it.
func (n *Node) considerCoSigning(raw []byte) {
	acc, err := updates.VerifyAnnouncement(n.verifier, raw, n.cfg.Zone, n.cfg.Publishers)
	if err != nil {
		return
	}
	if rec, ok, err := n.cosigned.get(acc.Announcement.ID); err != nil || (ok && rec.Version > acc.Announcement.Patchnet.Version) ||
		(ok && rec.Version == acc.Announcement.Patchnet.Version && rec.Done) {
		return
	}
	n.onProposal(n.runCtx, overlay.Message{Data: raw})
}

// onProposal handles an announcement on the supernodes' topic: a supernode
// verifies it on its own, fetches and checks the artifact, and only then
// co-signs and republishes it on the announce topic. Co-signing runs in the
// background so one slow artifact does not hold up the next proposal.
func (n *Node) onProposal(ctx context.Context, m overlay.Message) {
	acc, err := updates.VerifyAnnouncement(n.verifier, m.Data, n.cfg.Zone, n.cfg.Publishers)
	if err != nil {
		return // the validator let it through, so only time can have changed (expiry)
	}
	a := acc.Announcement
	if err := n.cosigned.reserve(a.ID, a.Patchnet.Version, acc.Digest); err != nil {
		if !errors.Is(err, errAlreadyCoSigned) {
			n.emit(Event{Kind: EventRefused, ID: a.ID, Version: a.Patchnet.Version, Detail: err.Error()})
		}
		return
	}
	n.wg.Go(func() {
		if err := n.coSign(ctx, acc, m.Data); err != nil {
			n.cosigned.release(a.ID, a.Patchnet.Version, acc.Digest)
			n.emit(Event{Kind: EventRefused, ID: a.ID, Version: a.Patchnet.Version, Detail: err.Error()})
		}
	})
}

// coSign fetches and checks the artifact, then adds this supernode's
// signature to every signature it holds for the payload and publishes.
func (n *Node) coSign(ctx context.Context, acc *updates.Accepted, raw []byte) error {
	a := acc.Announcement
	if art := a.Patchnet.Artifact; art != nil {
		fctx, cancel := context.WithTimeout(ctx, time.Duration(n.cfg.FetchTimeout))
		res, err := n.fetch(fctx, art, io.Discard)
		cancel()
		if err != nil {
			return fmt.Errorf("not co-signing %s version %d: %w", a.ID, a.Patchnet.Version, err)
		}
		n.emit(Event{Kind: EventFetched, ID: a.ID, Version: a.Patchnet.Version, Source: res.source, From: res.from, Detail: res.detail})
	}
	env, _, err := n.verifiedSignatures(raw)
	if err != nil {
		return err
	}
	merged, _ := n.merge.add(env)
	if err := n.creds.Sign(merged); err != nil {
		return fmt.Errorf("co-signing: %w", err)
	}
	n.merge.add(merged)
	out, err := merged.Marshal()
	if err != nil {
		return err
	}
	if err := n.ov.Publish(ctx, n.ov.AnnounceTopic(), out); err != nil {
		return fmt.Errorf("publishing co-signed %s: %w", a.ID, err)
	}
	if _, err := n.ov.Keep(overlay.KindAnnouncement, out); err != nil {
		n.log.Warn("keeping co-signed announcement for catch-up", "id", a.ID, "err", err)
	}
	if err := n.cosigned.done(a.ID, a.Patchnet.Version, acc.Digest); err != nil {
		return err
	}
	n.emit(Event{Kind: EventCoSigned, ID: a.ID, Version: a.Patchnet.Version,
		Detail: fmt.Sprintf("co-signed after checking %s", artifactText(a))})
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

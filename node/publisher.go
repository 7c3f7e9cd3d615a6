package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// ErrNotPublisher is returned by Publish on a node whose certificate lacks
// the publisher role.
var ErrNotPublisher = errors.New("this node's certificate has no publisher role")

// AddArtifact imports a file into the node's content store and provides it
// in the DHT, so supernodes and agents fetch it from peers; it returns the
// content id to put in the announcement.
func (n *Node) AddArtifact(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("adding artifact: %w", err)
	}
	defer f.Close()
	c, err := n.content.Add(ctx, f)
	if err != nil {
		return "", fmt.Errorf("adding artifact %s: %w", path, err)
	}
	return c.String(), nil
}

// Publish signs a as this publisher and sends it to the zone's supernodes,
// which check its artifact at the vendor's origin and co-sign it for the
// agents. It returns the signed envelope.
func (n *Node) Publish(ctx context.Context, a *updates.Announcement) ([]byte, error) {
	if !n.IsPublisher() {
		return nil, ErrNotPublisher
	}
	payload, err := a.Marshal()
	if err != nil {
		return nil, fmt.Errorf("publishing %s: %w", a.ID, err)
	}
	env := trust.NewEnvelope(updates.PayloadType, payload)
	if err := n.creds.Sign(env); err != nil {
		return nil, fmt.Errorf("signing %s: %w", a.ID, err)
	}
	raw, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	return raw, n.PublishEnvelope(ctx, raw)
}

// PublishEnvelope sends an announcement envelope signed already (by this
// publisher or another of the zone, `patchnet update sign`) to the zone's
// supernodes. This node's own validator checks it on the way out, as every
// peer's will: an envelope no publisher of the zone signed is refused here.
func (n *Node) PublishEnvelope(ctx context.Context, raw []byte) error {
	verdict, v := n.ValidateMessage(ctx, n.topics.supernodes, n.ID(), raw)
	va, ok := v.(*verifiedAnnouncement)
	if verdict != overlay.Accept || !ok {
		_, err := updates.VerifyAnnouncement(n.verifier, raw, n.zone, n.cfg.Publishers)
		if err == nil {
			err = fmt.Errorf("the gossip validator says %v (expired, or older than a version seen)", verdict)
		}
		return fmt.Errorf("publishing: not an announcement a publisher of zone %s may send now: %w", n.zone, err)
	}
	a := va.Accepted.Announcement
	n.noteHeld(a) // the artifact AddArtifact seeded, if this publisher did
	if err := n.ov.Publish(ctx, n.ov.SupernodesTopic(), raw); err != nil {
		return fmt.Errorf("publishing %s: %w", a.ID, err)
	}
	// Kept for catch-up: a supernode that was offline finds the proposal
	// there and co-signs it late.
	if _, err := n.ov.Keep(overlay.KindAnnouncement, raw); err != nil {
		n.log.Warn("keeping announcement for catch-up", "id", a.ID, "err", err)
	}
	n.emit(Event{Kind: EventPublished, ID: a.ID, Version: a.Patchnet.Version, Detail: artifactText(a)})
	return nil
}

// CoSigners lists the supernodes of this zone whose co-signatures of the
// payload of envelope this node has verified and merged so far (from the
// co-signed copies on the supernodes' and announce topics), and whether
// each counts (a current CRL of its zone CA and root is held).
func (n *Node) CoSigners(envelope []byte) ([]trust.Identity, error) {
	env, err := trust.ParseEnvelope(envelope)
	if err != nil {
		return nil, fmt.Errorf("reading the published envelope: %w", err)
	}
	va := n.merge.view(keyOf(env))
	if va == nil {
		return nil, nil
	}
	return va.Accepted.Supernodes, nil
}

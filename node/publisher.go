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
// which verify it, check its artifact and co-sign it for the agents. It
// returns the signed envelope.
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
	if err := n.ov.Publish(ctx, n.ov.SupernodesTopic(), raw); err != nil {
		return nil, fmt.Errorf("publishing %s: %w", a.ID, err)
	}
	// Kept for catch-up: a supernode that was offline finds the proposal
	// there and co-signs it late.
	if _, err := n.ov.Keep(overlay.KindAnnouncement, raw); err != nil {
		n.log.Warn("keeping announcement for catch-up", "id", a.ID, "err", err)
	}
	n.emit(Event{Kind: EventPublished, ID: a.ID, Version: a.Patchnet.Version, Detail: artifactText(a)})
	return raw, nil
}

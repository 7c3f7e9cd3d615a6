package sim

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// runByzantine: one supernode turns byzantine. Before the honest fix it
// gossips a conflicting payload (the old package passed off as the fix: a
// wrong digest) that it co-signed alone with the publisher's signature;
// below k, no agent may accept or install it. Then the honest fix is
// published and every agent must install it, and nothing else.
func runByzantine(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	if len(z.lab.Supernodes) < 2 || z.params.Threshold < 2 {
		return fmt.Errorf("byzantine: needs k ≥ 2 of ≥ 2 supernodes (have k=%d of %d)", z.params.Threshold, len(z.lab.Supernodes))
	}
	fix, err := z.lab.Fix(ctx, publicFixID, 1)
	if err != nil {
		return err
	}
	evil, err := conflicting(z.lab, fix)
	if err != nil {
		return err
	}
	byz := z.lab.Supernodes[len(z.lab.Supernodes)-1]
	raw, err := signWith(evil, z.lab.Publisher, byz)
	if err != nil {
		return err
	}
	if err := byz.Overlay().Publish(ctx, byz.Overlay().AnnounceTopic(), raw); err != nil {
		return fmt.Errorf("byzantine: gossiping the conflicting payload: %w", err)
	}
	// The honest fix follows; an agent that had accepted the conflicting
	// payload would have installed it by the time it installs this.
	if err := z.publishAnnouncement(ctx, fix); err != nil {
		return err
	}
	z.waitFor(ctx, z.lab.Agents, node.EventInstalled, "installed", progress)
	z.fill(rep, z.lab.Agents)
	rep.Checks["all_installed"] = z.count(z.lab.Agents, node.EventInstalled) == len(z.lab.Agents)
	return nil
}

// runStolenKey: the publisher's key is stolen and the thief publishes the
// old package as a fix. Every honest supernode checks the artifact at the
// vendor's origin, finds another digest, and refuses to co-sign; no agent
// accepts or installs it. Then the real fix goes out and is installed.
func runStolenKey(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	fix, err := z.lab.Fix(ctx, publicFixID, 1)
	if err != nil {
		return err
	}
	evil, err := conflicting(z.lab, fix)
	if err != nil {
		return err
	}
	evil.ID = "PNT-SIM-STOLEN"
	raw, err := signWith(evil, z.lab.Publisher)
	if err != nil {
		return err
	}
	if err := z.lab.Publisher.PublishEnvelope(ctx, raw); err != nil {
		return fmt.Errorf("stolen key: publishing the thief's announcement: %w", err)
	}
	refused := z.waitFor(ctx, z.lab.Supernodes, node.EventRefused, "supernodes refused", progress)
	rep.Checks["supernodes_refused"] = refused == len(z.lab.Supernodes)
	rep.Checks["none_cosigned"] = z.count(z.lab.Supernodes, node.EventCoSigned) == 0
	rep.Checks["no_agent_accepted_stolen"] = z.count(z.lab.Agents, node.EventAccepted) == 0
	if err := z.publishAnnouncement(ctx, fix); err != nil {
		return err
	}
	z.waitFor(ctx, z.lab.Agents, node.EventInstalled, "installed", progress)
	z.fill(rep, z.lab.Agents)
	rep.Checks["all_installed"] = z.count(z.lab.Agents, node.EventInstalled) == len(z.lab.Agents)
	return nil
}

// conflicting is fix with another artifact: the old package passed off as
// the fix.
func conflicting(l *nodelab.Lab, fix *updates.Announcement) (*updates.Announcement, error) {
	deb := l.Debs[nodelab.OldVersion]
	b, err := os.ReadFile(deb)
	if err != nil {
		return nil, fmt.Errorf("reading the old package: %w", err)
	}
	evil := *fix
	art := *fix.Patchnet.Artifact
	art.Name, art.Size, art.SHA256, art.ContentID = filepath.Base(deb), int64(len(b)), sha256.Sum256(b), ""
	evil.Patchnet.Artifact = &art
	return &evil, nil
}

// signWith signs a with the members' keys, read from their files (the
// attacker holds them).
func signWith(a *updates.Announcement, signers ...*nodelab.Member) ([]byte, error) {
	payload, err := a.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", a.ID, err)
	}
	env := trust.NewEnvelope(updates.PayloadType, payload)
	for _, m := range signers {
		c, err := m.Credentials()
		if err != nil {
			return nil, fmt.Errorf("loading %s's key: %w", m.Name, err)
		}
		if err := c.Sign(env); err != nil {
			return nil, fmt.Errorf("signing as %s: %w", m.Name, err)
		}
	}
	return env.Marshal()
}

// runRevocation: the last supernode's certificate is revoked and the zone
// CA's CRL published; once every node applied it the fix goes out. The
// revoked supernode's co-signature must count nowhere: with k of the
// others still there every agent installs on their signatures alone; with
// fewer, no agent accepts at all.
func runRevocation(ctx context.Context, z *zone, rep *testnet.Report, progress testnet.Progress) error {
	revoked := z.lab.Supernodes[len(z.lab.Supernodes)-1]
	crl, err := z.lab.Revoke(revoked)
	if err != nil {
		return err
	}
	if err := z.lab.Publisher.PublishCRL(ctx, crl); err != nil {
		return fmt.Errorf("revocation: publishing the CRL: %w", err)
	}
	members := z.lab.Members()
	applied := z.waitFor(ctx, members, node.EventCRL, "CRL applied", progress)
	rep.Checks["crl_applied_everywhere"] = applied == len(members)
	if err := z.publish(ctx); err != nil {
		return err
	}
	enough := len(z.lab.Supernodes)-1 >= z.params.Threshold
	if enough {
		z.waitFor(ctx, z.lab.Agents, node.EventInstalled, "installed", progress)
		rep.Checks["all_installed"] = z.count(z.lab.Agents, node.EventInstalled) == len(z.lab.Agents)
	} else {
		honest := z.lab.Supernodes[:len(z.lab.Supernodes)-1]
		z.waitFor(ctx, honest, node.EventCoSigned, "co-signed", progress)
		z.waitFor(ctx, z.lab.Agents, node.EventPending, "pending", progress)
		rep.Checks["none_accepted_below_k"] = z.count(z.lab.Agents, node.EventAccepted) == 0
	}
	id := revoked.ID().String()
	counted := 0
	for _, m := range z.lab.Agents {
		if slices.ContainsFunc(z.ev.acceptedSigners(m.ID()), func(s string) bool { return strings.Contains(s, id) }) {
			counted++
		}
	}
	rep.Checks["revoked_cosigner_never_counted"] = counted == 0
	z.fill(rep, z.lab.Agents)
	if !enough {
		// Nobody was to accept: all_accepted would read as a failure.
		delete(rep.Checks, "all_accepted")
	}
	return nil
}

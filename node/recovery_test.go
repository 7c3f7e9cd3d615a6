package node_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// vendorOnly is fix with no content id: its artifact comes from the vendor
// URL only, so taking the vendor down makes every fetch fail.
func vendorOnly(fix *updates.Announcement) *updates.Announcement {
	art := *fix.Patchnet.Artifact
	art.ContentID = ""
	fix.Patchnet.Artifact = &art
	return fix
}

// hasEvent reports whether m recorded an event of kind for version whose
// detail contains text.
func hasEvent(m *nodelab.Member, kind node.EventKind, version uint64, text string) bool {
	for _, e := range m.Status().Events {
		if e.Kind == kind && e.Version == version && strings.Contains(e.Detail, text) {
			return true
		}
	}
	return false
}

// fetchFailsForLateAgent installs fix (vendor only) on the zone's agents,
// takes the vendor down and starts one more agent, which catches up,
// accepts the fix and fails to fetch it.
func fetchFailsForLateAgent(t *testing.T, l *nodelab.Lab, id string) *nodelab.Member {
	t.Helper()
	ctx := context.Background()
	fix, err := l.Fix(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, vendorOnly(fix)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the online agents to install", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	l.SetVendorDown(true)
	late, err := l.AddAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the late agent's fetch to fail", func() bool {
		return hasEvent(late, node.EventFailed, 1, "retrying in")
	})
	if late.Status().Has(node.EventInstalled) {
		t.Fatalf("the late agent installed while the vendor was down:\n%s", describe(l))
	}
	return late
}

// The vendor (the only source of an artifact) is down when an agent accepts
// an update: the fetch fails, and the agent tries again with backoff until
// the vendor is back, then installs.
func TestFailedFetchRetried(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) { cfg.FetchRetry = node.Duration(200 * time.Millisecond) }})
	late := fetchFailsForLateAgent(t, l, "PNT-2026-0030")
	l.SetVendorDown(false)
	waitFor(t, 60*time.Second, "the late agent to install once the vendor is back", func() bool {
		return late.Status().Has(node.EventInstalled)
	})
	if v := installedVersion(t, late); v != nodelab.NewVersion {
		t.Errorf("late agent has %q, want %s\n%s", v, nodelab.NewVersion, describe(l))
	}
}

// An agent accepts an update but has not installed it (its fetch failed and
// the next attempt is an hour away) when its host restarts. The accepted
// version is recorded as seen, and catch-up skips what the agent stored, so
// only its pending-install record brings the update back: after the restart
// it is verified again and installed.
func TestAcceptedUpdateSurvivesRestart(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			if name == "agent-02" {
				cfg.InMemory = false
				cfg.FetchRetry = node.Duration(node.MaxFetchRetryBackoff)
			}
		}})
	late := fetchFailsForLateAgent(t, l, "PNT-2026-0031")
	l.SetVendorDown(false)
	if err := l.Restart(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the restarted agent to install the update it had accepted", func() bool {
		return late.Status().Has(node.EventInstalled)
	})
	if late.Status().Has(node.EventAccepted) {
		t.Errorf("the restarted agent accepted the update again; want it installed from its pending record:\n%s", describe(l))
	}
	if v := installedVersion(t, late); v != nodelab.NewVersion {
		t.Errorf("restarted agent has %q, want %s\n%s", v, nodelab.NewVersion, describe(l))
	}
}

// An agent accepts an update and waits for its rollout start when its host
// restarts: after the restart it waits again and installs.
func TestScheduledInstallSurvivesRestart(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) { cfg.InMemory = false }})
	ctx := context.Background()
	agent := l.Agents[0]
	fix, err := l.Fix(ctx, "PNT-2026-0036", 1)
	if err != nil {
		t.Fatal(err)
	}
	// The margin only needs to cover the restart.
	fix.Patchnet.Rollout = &updates.Rollout{NotBefore: time.Now().Add(15 * time.Second)}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the install to be scheduled", func() bool { return agent.Status().Has(node.EventScheduled) })
	if err := l.Restart(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if v := installedVersion(t, agent); v != nodelab.OldVersion {
		t.Fatalf("installed %q before the restart completed: test margin too small", v)
	}
	waitFor(t, 60*time.Second, "the restarted agent to install at its rollout start", func() bool {
		return agent.Status().Has(node.EventInstalled)
	})
	if v := installedVersion(t, agent); v != nodelab.NewVersion {
		t.Errorf("restarted agent has %q, want %s\n%s", v, nodelab.NewVersion, describe(l))
	}
}

// Version 1 of an id waits for its rollout start when version 2 arrives and
// is installed at once. When version 1's slot comes, installing it would
// downgrade the host: the agent skips it as superseded.
func TestSupersededVersionNotInstalled(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	agent := l.Agents[0]
	v1, err := l.Fix(ctx, "PNT-2026-0032", 1)
	if err != nil {
		t.Fatal(err)
	}
	// The margin only needs to cover publishing and installing version 2.
	v1.Patchnet.Rollout = &updates.Rollout{NotBefore: time.Now().Add(20 * time.Second)}
	if _, err := l.Publisher.Publish(ctx, v1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "version 1 to be scheduled", func() bool { return hasEvent(agent, node.EventScheduled, 1, "") })
	v2, err := l.Fix(ctx, "PNT-2026-0032", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, v2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "version 2 to install", func() bool { return hasEvent(agent, node.EventInstalled, 2, "") })
	if hasEvent(agent, node.EventInstalled, 1, "") {
		t.Fatalf("version 1's rollout start passed before version 2 was installed: test margin too small\n%s", describe(l))
	}
	waitFor(t, 30*time.Second, "version 1 to be skipped as superseded", func() bool {
		return hasEvent(agent, node.EventSuperseded, 1, "superseded by version 2")
	})
	if n := agent.Status().Count[node.EventInstalled]; n != 1 {
		t.Errorf("%d installs, want only version 2's:\n%s", n, describe(l))
	}
	installed, err := agent.Installed()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range installed {
		if in.ID == "PNT-2026-0032" && in.Version == 1 {
			t.Errorf("transaction %s installed version 1 after version 2", in.Tx.ID)
		}
	}
}

// A CRL revoking a supernode reached an agent by gossip; the agent restarts.
// The CRL is in its catch-up store, which catch-up does not fetch again, so
// it must be applied from there: the revoked supernode's co-signature still
// does not count and, with k=3 of 3, the update stays pending.
func TestRevocationSurvivesRestart(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 3, Threshold: 3,
		Configure: func(name string, cfg *node.Config) { cfg.InMemory = name != "agent-01" }})
	ctx := context.Background()
	agent, revoked := l.Agents[0], l.Supernodes[2]
	crl, err := l.Revoke(revoked)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publisher.PublishCRL(ctx, crl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the agent to apply the CRL", func() bool { return agent.Status().Has(node.EventCRL) })
	if err := l.Restart(ctx, agent); err != nil {
		t.Fatal(err)
	}
	// The envelope below must reach the agent itself, not only copies
	// the supernodes make as they co-sign the payload (those carry no
	// revoked signature): wait for the publisher's mesh to take the
	// restarted agent back (Restart waits for the agent to have a mesh,
	// which may be a supernode's alone).
	topic := l.Publisher.Overlay().AnnounceTopic()
	waitFor(t, 30*time.Second, "the publisher's mesh to take the restarted agent", func() bool {
		return slices.Contains(l.Publisher.Overlay().MeshPeers(topic), agent.ID())
	})
	fix, err := l.Fix(ctx, "PNT-2026-0033", 1)
	if err != nil {
		t.Fatal(err)
	}
	all := signWith(t, fix, l.Publisher, l.Supernodes[0], l.Supernodes[1], revoked)
	if err := l.Publisher.Overlay().Publish(ctx, l.Publisher.Overlay().AnnounceTopic(), all); err != nil {
		t.Fatal(err) // the publisher relays it: the payload is new to it, three signatures count
	}
	waitFor(t, 30*time.Second, "the restarted agent to drop the revoked co-signature", func() bool {
		e, ok := agent.Status().Last(node.EventRejected)
		return ok && strings.Contains(e.Detail, "revoked")
	})
	// The revoked signature is dropped (rejected) before the rest is
	// merged and found short of k (pending): wait for the second too.
	waitFor(t, 30*time.Second, "the agent to wait for more co-signatures", func() bool { return agent.Status().Has(node.EventPending) })
	if st := agent.Status(); st.Has(node.EventAccepted) {
		t.Errorf("the restarted agent accepted with a revoked co-signer:\n%s", describe(l))
	}
	e, ok := agent.Status().Last(node.EventPending)
	if !ok || len(e.Signers) != 2 {
		t.Errorf("pending event %+v, want 2 of 3 co-signatures", e)
	}
}

// respellings are n copies of s under distinct spellings of its key id
// (upper and lower case hex letters), each of which the verifier accepts.
func respellings(t *testing.T, s trust.Signature, n int) []trust.Signature {
	t.Helper()
	var letters []int
	for i, c := range s.KeyID {
		if c >= 'a' && c <= 'f' {
			letters = append(letters, i)
		}
	}
	if 1<<len(letters) < n {
		t.Fatalf("key id %s has %d hex letters: too few for %d spellings", s.KeyID, len(letters), n)
	}
	out := make([]trust.Signature, n)
	for i := range out {
		b := []byte(s.KeyID)
		for j, pos := range letters {
			if i&(1<<j) != 0 {
				b[pos] -= 'a' - 'A'
			}
		}
		out[i] = s
		out[i].KeyID = string(b)
	}
	return out
}

// Any relaying peer republishes the publisher's envelope with its one
// signature copied under 32 spellings of the key id. Every copy verifies;
// were they merged as distinct signers, the payload's merge entry would be
// full (trust.MaxSignatures) and every genuine co-signature dropped, and
// supernodes could not add theirs. The honest co-signed update still goes
// through.
func TestMergeBufferFloodedWithDuplicateSignatures(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0034", 1)
	if err != nil {
		t.Fatal(err)
	}
	env, err := trust.ParseEnvelope(signWith(t, fix, l.Publisher))
	if err != nil {
		t.Fatal(err)
	}
	env.Signatures = respellings(t, env.Signatures[0], trust.MaxSignatures)
	flood, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	attacker := l.Agents[0]
	if err := attacker.Overlay().Publish(ctx, attacker.Overlay().AnnounceTopic(), flood); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the flood to reach the other agents", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventPending) || s.Has(node.EventAccepted) })
		return len(no) == 0
	})
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to install the honest co-signed fix", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	for _, a := range l.Agents {
		acc, _ := a.Status().Last(node.EventAccepted)
		if len(acc.Signers) != 2 {
			t.Errorf("%s accepted with co-signers %v, want both supernodes", a.Name, acc.Signers)
		}
	}
	for _, s := range l.Supernodes {
		if st := s.Status(); !st.Has(node.EventCoSigned) || st.Has(node.EventRefused) {
			t.Errorf("%s: co-signed %v, refused %v; want co-signed only\n%s", s.Name, st.Has(node.EventCoSigned), st.Has(node.EventRefused), describe(l))
		}
	}
}

// An agent gave up fetching an accepted update (the vendor was down for
// every attempt). The vendor comes back, and a supernode that was offline
// catches up and co-signs: its co-signature brings the agent a copy of the
// update, a duplicate to the acceptance pipeline, which queues the update
// again because it was never installed.
func TestGivenUpInstallQueuedAgainByLaterCopy(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) { cfg.FetchRetry = node.Duration(20 * time.Millisecond) }})
	late := fetchFailsForLateAgent(t, l, "PNT-2026-0035")
	waitFor(t, 60*time.Second, "the late agent to give up", func() bool {
		return hasEvent(late, node.EventFailed, 1, "gave up after")
	})
	l.SetVendorDown(false)
	if _, err := l.AddSupernode(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the late agent to install on the next copy", func() bool {
		return late.Status().Has(node.EventInstalled)
	})
	if v := installedVersion(t, late); v != nodelab.NewVersion {
		t.Errorf("late agent has %q, want %s\n%s", v, nodelab.NewVersion, describe(l))
	}
}

package node_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// With one supernode alive and k=2, agents hold the announcement as pending
// (and say so) and install nothing: key compromise below the threshold.
func TestBelowThresholdNotInstalled(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 1, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0002", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every agent to report the announcement pending", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			e, ok := s.Last(node.EventPending)
			return ok && len(e.Signers) == 1
		})
		return len(no) == 0
	})
	for _, a := range l.Agents {
		st := a.Status()
		if st.Has(node.EventAccepted) || st.Has(node.EventInstalled) || st.Has(node.EventFetched) {
			t.Errorf("%s acted on an announcement with one co-signature:\n%s", a.Name, describe(l))
		}
		if v := installedVersion(t, a); v != nodelab.OldVersion {
			t.Errorf("%s has %q, want %s untouched", a.Name, v, nodelab.OldVersion)
		}
		e, _ := st.Last(node.EventPending)
		if e.Detail != "1 of 2 supernode co-signatures: waiting for more" {
			t.Errorf("%s reports %q", a.Name, e.Detail)
		}
	}
}

// A byzantine supernode co-signs a second payload for an id and version the
// zone already accepted (with a publisher key it holds): agents quarantine
// it, the alert names the byzantine signer, and nothing of it is installed.
// k=1 so that one byzantine supernode reaches the quorum on its own, the
// case where only equivocation detection stands in the way.
func TestByzantineSupernodeQuarantined(t *testing.T) {
	hook := newWebhook(t)
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 3, Threshold: 1,
		Configure: func(name string, cfg *node.Config) {
			if name == "supernode-3" {
				// Its attacker co-signs by hand: had it co-signed the honest
				// fix too, it would be caught signing both and not count.
				cfg.CoSign.Publishers = nil
			}
			wc := updates.DefaultWebhookConfig()
			wc.URL = hook.srv.URL
			cfg.Notify.Webhook = &wc
		}})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0003", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to install the honest fix", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})

	byz := l.Supernodes[2]
	evil := conflicting(t, l, fix)
	raw := signWith(t, evil, l.Publisher, byz)
	if err := byz.Overlay().Publish(ctx, byz.Overlay().AnnounceTopic(), raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every agent to quarantine the conflicting payload", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventQuarantined) })
		return len(no) == 0
	})
	byzID := byz.ID().String()
	names := func(signers []string) bool {
		return slices.ContainsFunc(signers, func(s string) bool { return strings.Contains(s, byzID) })
	}
	for _, a := range l.Agents {
		alerts, err := a.Alerts()
		if err != nil || len(alerts) != 1 {
			t.Fatalf("%s alerts %v, %v; want one", a.Name, alerts, err)
		}
		if al := alerts[0]; al.Kind != updates.AlertEquivocation || !names(al.Second.Signers) {
			t.Errorf("%s alert %s does not name %s among the quarantined side's signers", a.Name, al, byzID)
		}
		if v := installedVersion(t, a); v != nodelab.NewVersion {
			t.Errorf("%s has %q, want %s from the honest payload", a.Name, v, nodelab.NewVersion)
		}
		if n := a.Status().Count[node.EventInstalled]; n != 1 {
			t.Errorf("%s installed %d times, want once", a.Name, n)
		}
	}
	waitFor(t, 30*time.Second, "an alert per agent on the webhook", func() bool {
		alerts := 0
		for _, p := range hook.received() {
			if p.Alert != nil {
				alerts++
				if !names(p.Alert.Second.Signers) {
					t.Errorf("webhook alert %s does not name %s", p.Alert, byzID)
				}
			}
		}
		return alerts == len(l.Agents)
	})
}

// conflicting is fix with another artifact: the old package passed off as
// the fix.
func conflicting(t *testing.T, l *nodelab.Lab, fix *updates.Announcement) *updates.Announcement {
	t.Helper()
	deb := l.Debs[nodelab.OldVersion]
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	evil := *fix
	art := *fix.Patchnet.Artifact
	art.Name, art.Size, art.SHA256, art.ContentID, art.URLs = filepath.Base(deb), int64(len(b)), sha256.Sum256(b), "", nil
	evil.Patchnet.Artifact = &art
	return &evil
}

// signWith signs a with the members' keys, read from their files.
func signWith(t testing.TB, a *updates.Announcement, signers ...*nodelab.Member) []byte {
	t.Helper()
	payload, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	env := trust.NewEnvelope(updates.PayloadType, payload)
	for _, m := range signers {
		c, err := m.Credentials()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Sign(env); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A publisher announces an artifact whose bytes do not match the announced
// SHA-256 (a wrong digest, or a malicious mirror): every supernode fetches
// and checks it before co-signing, so none co-signs and no agent accepts.
func TestSupernodesRefuseWrongDigest(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 1})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0006", 1)
	if err != nil {
		t.Fatal(err)
	}
	art := *fix.Patchnet.Artifact
	art.SHA256[0] ^= 0xff
	fix.Patchnet.Artifact = &art
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Supernodes {
		waitFor(t, 60*time.Second, s.Name+" to refuse", func() bool { return s.Status().Has(node.EventRefused) })
		st := s.Status()
		e, _ := st.Last(node.EventRefused)
		if st.Has(node.EventCoSigned) || !strings.Contains(strings.ToLower(e.Detail), "sha256") {
			t.Errorf("%s: co-signed %v, refused with %q; want a refusal naming the SHA-256", s.Name, st.Has(node.EventCoSigned), e.Detail)
		}
	}
	for _, a := range l.Agents {
		if st := a.Status(); st.Has(node.EventAccepted) || st.Has(node.EventInstalled) {
			t.Errorf("%s acted on an artifact no supernode vouched for:\n%s", a.Name, describe(l))
		}
	}
}

// A supernode's certificate is revoked and the zone CA's CRL is gossiped:
// every node applies it, the revoked supernode's co-signature no longer
// counts, and with k=3 of 3 supernodes the update stays pending.
func TestRevokedSupernodeNotCounted(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 3, Threshold: 3})
	ctx := context.Background()
	revoked := l.Supernodes[2]
	crl, err := l.Revoke(revoked)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publisher.PublishCRL(ctx, crl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every node to apply the CRL", func() bool {
		for _, m := range l.Members() {
			if !m.Status().Has(node.EventCRL) {
				return false
			}
		}
		return true
	})
	fix, err := l.Fix(ctx, "PNT-2026-0007", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every agent to hold 2 valid co-signatures", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			e, ok := s.Last(node.EventPending)
			return ok && len(e.Signers) == 2
		})
		return len(no) == 0
	})
	// The revoked supernode's co-signature, sent with the valid ones, is
	// dropped by every agent's gossip validator, which says so. (No honest
	// node relays it: each holds the CRL.)
	all := signWith(t, fix, l.Publisher, l.Supernodes[0], l.Supernodes[1], revoked)
	for _, a := range l.Agents {
		if v := verdict(a, all); v != overlay.Ignore {
			t.Errorf("%s: verdict %v on a revoked co-signature beside merged ones, want ignore", a.Name, v)
		}
	}
	waitFor(t, 30*time.Second, "every agent to drop the revoked co-signature", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			e, ok := s.Last(node.EventRejected)
			return ok && strings.Contains(e.Detail, "revoked")
		})
		return len(no) == 0
	})
	for _, a := range l.Agents {
		if st := a.Status(); st.Has(node.EventAccepted) || installedVersion(t, a) != nodelab.OldVersion {
			t.Errorf("%s accepted or installed with a revoked co-signer:\n%s", a.Name, describe(l))
		}
	}
}

// TestStolenKeyFakeAheadOfFixDoesNotBlockIt: a thief of the publisher's
// key sends a payload of the fix's version with another artifact just
// ahead of the real fix, at an address of the vendor's origin that answers
// slowly. The supernode, still checking the fake, holds the real proposal
// back (its publisher sees it waiting), co-signs it once the fake fails
// its check, and the agents install the real fix. Refusing the real one as
// an equivocation instead would leave the zone short of its co-signatures
// for good.
func TestStolenKeyFakeAheadOfFixDoesNotBlockIt(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 1, Threshold: 1})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0009", 1)
	if err != nil {
		t.Fatal(err)
	}
	url, arrived, release := l.HoldVendor("stolen-key.deb")
	defer release()
	fake := conflicting(t, l, fix)
	fake.Patchnet.Artifact.URLs = []string{url}
	thief := l.Agents[0].Overlay()
	if err := thief.Publish(ctx, thief.SupernodesTopic(), signWith(t, fake, l.Publisher)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the supernode never asked the vendor for the fake's artifact")
	}
	raw, err := l.Publisher.Publish(ctx, fix)
	if err != nil {
		t.Fatal(err)
	}
	state := func(envelope []byte) node.ProposalState {
		answers, err := l.Publisher.CoSignProgress(ctx, envelope)
		if err != nil || len(answers) != 1 || answers[0].Err != nil {
			return ""
		}
		return answers[0].Status.State
	}
	waitFor(t, 30*time.Second, "the supernode to hold the fix back while the fake is checked", func() bool {
		return state(raw) == node.ProposalWaiting
	})
	release()
	waitFor(t, 60*time.Second, "every agent to install the fix", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	for _, a := range l.Agents {
		if v := installedVersion(t, a); v != nodelab.NewVersion {
			t.Errorf("%s has %q, want %s", a.Name, v, nodelab.NewVersion)
		}
	}
	if st := state(raw); st != node.ProposalCoSigned {
		t.Errorf("the fix is %q at the supernode, want co-signed", st)
	}
}

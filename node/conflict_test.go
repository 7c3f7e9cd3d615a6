package node_test

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/updates"
)

// A byzantine supernode (k = 2, one of three, co-signing nothing honest)
// gossips a payload with another digest for the fix's id and version,
// signed by itself and the stolen publisher key: once before the honest fix
// is published and once after it was accepted (a third digest: the second
// time, it is caught co-signing two payloads). Every agent alerts (event,
// webhook) naming it, holds both payloads aside, installs nothing of them,
// and installs the honest fix; a copy arriving again is no new alert.
func TestConflictingCoSignatureBelowThresholdCaught(t *testing.T) {
	hook := newWebhook(t)
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 3, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			if name == "supernode-3" {
				cfg.CoSign.Publishers = nil // its attacker co-signs by hand, never the honest fix
			}
			wc := updates.DefaultWebhookConfig()
			wc.URL = hook.srv.URL
			cfg.Notify.Webhook = &wc
		}})
	ctx := context.Background()
	byz := l.Supernodes[2]
	fix, err := l.Fix(ctx, "PNT-2026-0031", 1)
	if err != nil {
		t.Fatal(err)
	}
	evil := conflicting(t, l, fix)
	gossip(t, byz, signWith(t, evil, l.Publisher, byz))
	waitFor(t, 30*time.Second, "every agent to hold the byzantine payload pending", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			e, ok := s.Last(node.EventPending)
			return ok && slices.Equal(e.Signers, []string{byz.Identity().Subject})
		})
		return len(no) == 0
	})

	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to install the honest fix and quarantine the byzantine payload", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) && heldAside(s, digestOf(t, evil)) != nil })
		return len(no) == 0
	})

	evil2 := *evil
	evil2.Summary += " (again)"
	again := signWith(t, &evil2, l.Publisher, byz)
	gossip(t, byz, again)
	waitFor(t, 30*time.Second, "every agent to quarantine the second byzantine payload", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return heldAside(s, digestOf(t, &evil2)) != nil })
		return len(no) == 0
	})
	for _, a := range l.Agents {
		if v := verdict(a, again); v != overlay.Ignore {
			t.Errorf("%s: verdict %v on a copy of a payload held aside, want ignore", a.Name, v)
		}
	}

	honest := digestOf(t, fix)
	for _, a := range l.Agents {
		st := a.Status()
		// The second payload is the byzantine supernode's second
		// co-signature for the version: it is caught signing both.
		for i, d := range []updates.Digest{digestOf(t, evil), digestOf(t, &evil2)} {
			al := heldAside(st, d)
			if !names(al.Second.Signers, byz) || al.First.Digest != honest || names(al.Equivocators, byz) != (i == 1) {
				t.Errorf("%s: alert %s does not name %s as the signer of %s against the accepted %s (and as signing two, the second time)",
					a.Name, al, byz.Name, d, honest)
			}
			if n := quarantineAlerts(st, d); n != 1 {
				t.Errorf("%s told of %s being quarantined %d times, want once", a.Name, d, n)
			}
		}
		if v := installedVersion(t, a); v != nodelab.NewVersion || st.Count[node.EventInstalled] != 1 {
			t.Errorf("%s has %q installed %d times, want %s once", a.Name, v, st.Count[node.EventInstalled], nodelab.NewVersion)
		}
		recs, err := a.Updates()
		if err != nil || len(recs) != 1 || recs[0].Digest != honest {
			t.Errorf("%s accepted %+v (%v), want the honest payload alone", a.Name, recs, err)
		}
		if alerts, _ := a.Alerts(); len(alerts) != 0 {
			t.Errorf("%s quarantined the version: %v", a.Name, alerts)
		}
	}
	api, err := dialAPI(t, filepath.Join(l.Agents[0].Dir, "state")).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(api.Conflicts) != 2 || api.Conflicts[1].Contested || api.Conflicts[1].Second.Digest != digestOf(t, &evil2) ||
		!names(api.Conflicts[1].Second.Signers, byz) {
		t.Errorf("/v1/status conflicts %+v, want the second byzantine payload quarantined last, naming %s", api.Conflicts, byz.Name)
	}
	waitFor(t, 30*time.Second, "two quarantine alerts per agent on the webhook", func() bool {
		n := 0
		for _, p := range hook.received() {
			if al := p.Alert; al != nil && al.Kind == updates.AlertConflictingCoSignature && !al.Contested && names(al.Second.Signers, byz) {
				n++
			}
		}
		return n == 2*len(l.Agents)
	})
}

// A supernode co-signs the honest fix and a conflicting payload for the
// same id and version, in either order (k = 2, the others have not
// co-signed yet): every agent catches it signing both, and its
// co-signature on the honest fix stops counting. One honest co-signature
// later the fix still waits; with a second it installs, and the
// conflicting payload is held aside, naming the supernode as having signed
// both.
func TestEquivocatingSupernodeNotCounted(t *testing.T) {
	for _, evilFirst := range []bool{false, true} {
		name := "fix first"
		if evilFirst {
			name = "conflicting payload first"
		}
		t.Run(name, func(t *testing.T) { testEquivocatingSupernode(t, evilFirst) })
	}
}

func testEquivocatingSupernode(t *testing.T, evilFirst bool) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 3, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			cfg.CoSign.Publishers = nil // every co-signature below is made by hand, in order
		}})
	ctx := context.Background()
	sn1, sn2, byz := l.Supernodes[0], l.Supernodes[1], l.Supernodes[2]
	fix, err := l.Fix(ctx, "PNT-2026-0032", 1)
	if err != nil {
		t.Fatal(err)
	}
	evil := conflicting(t, l, fix)
	pending := func(what string, signers ...*nodelab.Member) {
		t.Helper()
		var want []string
		for _, m := range signers {
			want = append(want, m.Identity().Subject)
		}
		waitFor(t, 30*time.Second, what, func() bool {
			_, no := agentsWith(l, func(s node.Status) bool {
				e, ok := s.Last(node.EventPending)
				return ok && e.ID == fix.ID && slices.Equal(e.Signers, want)
			})
			return len(no) == 0
		})
	}
	first, second := fix, evil
	if evilFirst {
		first, second = evil, fix
	}
	gossip(t, byz, signWith(t, first, l.Publisher, byz))
	pending("every agent to hold the first payload with the byzantine co-signature", byz)
	gossip(t, byz, signWith(t, second, l.Publisher, byz))
	waitFor(t, 30*time.Second, "every agent to catch the byzantine supernode signing both", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			return slices.ContainsFunc(s.Conflicts, func(a updates.Alert) bool { return names(a.Equivocators, byz) })
		})
		return len(no) == 0
	})
	gossip(t, sn1, signWith(t, fix, l.Publisher, sn1))
	pending("every agent to count one co-signature of two, the byzantine one left out", sn1)
	for _, a := range l.Agents {
		if st := a.Status(); st.Has(node.EventAccepted) {
			t.Fatalf("%s accepted the fix with a co-signature of a supernode caught equivocating:\n%s", a.Name, describe(l))
		}
	}
	gossip(t, sn2, signWith(t, fix, l.Publisher, sn2))
	waitFor(t, 60*time.Second, "every agent to install the honest fix", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	for _, a := range l.Agents {
		st := a.Status()
		al := heldAside(st, digestOf(t, evil))
		if al == nil || !names(al.Equivocators, byz) || !names(al.Second.Signers, byz) {
			t.Errorf("%s holds no quarantined conflicting payload naming %s as equivocator: %v", a.Name, byz.Name, st.Conflicts)
		}
		e, _ := st.Last(node.EventAccepted)
		if !slices.Equal(e.Signers, []string{sn1.Identity().Subject, sn2.Identity().Subject}) {
			t.Errorf("%s accepted with co-signers %v, want %s and %s", a.Name, e.Signers, sn1.Name, sn2.Name)
		}
		if v := installedVersion(t, a); v != nodelab.NewVersion {
			t.Errorf("%s has %q, want %s", a.Name, v, nodelab.NewVersion)
		}
	}

	// A second key stolen, of a supernode that co-signed the fix: its
	// co-signature on the payload held aside catches it too, and the
	// payload stays held aside, short of k.
	gossip(t, sn1, signWith(t, evil, l.Publisher, byz, sn1))
	waitFor(t, 30*time.Second, "every agent to catch the second supernode signing both", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			al := heldAside(s, digestOf(t, evil))
			return al != nil && names(al.Equivocators, sn1) && names(al.Second.Signers, sn1)
		})
		return len(no) == 0
	})
	for _, a := range l.Agents {
		if st := a.Status(); st.Count[node.EventAccepted] != 1 || st.Has(node.EventQuarantined) || installedVersion(t, a) != nodelab.NewVersion {
			t.Errorf("%s acted on the payload held aside:\n%s", a.Name, describe(l))
		}
	}

	// Caught once, distrusted for every update: its co-signature on
	// another update does not count either.
	other, err := l.Fix(ctx, "PNT-2026-0033", 1)
	if err != nil {
		t.Fatal(err)
	}
	gossip(t, sn2, signWith(t, other, l.Publisher, byz, sn2))
	waitFor(t, 30*time.Second, "every agent to drop the caught supernode's co-signature on another update", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			e, ok := s.Last(node.EventPending)
			return ok && e.ID == other.ID && slices.Equal(e.Signers, []string{sn2.Identity().Subject})
		})
		return len(no) == 0
	})
}

// gossip sends raw on m's announce topic as it is.
func gossip(t *testing.T, m *nodelab.Member, raw []byte) {
	t.Helper()
	if err := m.Overlay().Publish(context.Background(), m.Overlay().AnnounceTopic(), raw); err != nil {
		t.Fatal(err)
	}
}

// digestOf is the payload digest of a.
func digestOf(t *testing.T, a *updates.Announcement) updates.Digest {
	t.Helper()
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return updates.Digest(sha256.Sum256(b))
}

// heldAside is st's alert of the payload d held aside (quarantined), nil
// if none.
func heldAside(st node.Status, d updates.Digest) *updates.Alert {
	for _, a := range st.Conflicts {
		if a.Second.Digest == d && !a.Contested {
			return &a
		}
	}
	return nil
}

// quarantineAlerts counts st's conflicting co-signature events that held d
// aside.
func quarantineAlerts(st node.Status, d updates.Digest) int {
	n := 0
	for _, e := range st.Events {
		if e.Kind == node.EventConflictingCoSignature && strings.Contains(e.Detail, "quarantined "+d.String()) {
			n++
		}
	}
	return n
}

// names reports whether signers names m (by peer ID).
func names(signers []string, m *nodelab.Member) bool {
	return slices.ContainsFunc(signers, func(s string) bool { return strings.Contains(s, m.ID().String()) })
}

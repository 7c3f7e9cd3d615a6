package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
)

// TestAgentsGetOneAnnouncementWithKCoSignatures: the supernodes pass
// their co-signatures among themselves and announce once k are together,
// so the first announcement an agent hears is one it can accept, and the
// zone carries one announcement per payload (two at most: a fuller one
// when a co-signature came late), not one per supernode, each relayed and
// verified by every agent at the same moment.
func TestAgentsGetOneAnnouncementWithKCoSignatures(t *testing.T) {
	const k = 2
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 3, Threshold: k})
	subs := map[string]*overlay.Subscription{}
	for _, a := range l.Agents {
		s, err := a.Overlay().Subscribe(a.Overlay().AnnounceTopic())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs[a.Name] = s
	}
	publishAndWait(t, l, "PNT-2026-0010")
	for name, s := range subs {
		cosigs := announced(t, s)
		switch {
		case len(cosigs) == 0:
			t.Errorf("%s heard no announcement", name)
		case cosigs[0] < k:
			t.Errorf("%s first heard %d co-signature(s), want at least k = %d (all heard: %v)", name, cosigs[0], k, cosigs)
		case len(cosigs) > 2:
			t.Errorf("%s heard %d announcements of one payload %v, want one (two with a late co-signature)", name, len(cosigs), cosigs)
		}
	}
}

// TestSupernodesAnnounceOnceAllHaveCoSigned: the coalescing wait is for
// co-signatures in flight, so supernodes that all co-signed announce at
// once. With the wait and the gathering window an hour long, only that
// rule can announce: the agents accept, and hear all three co-signatures.
func TestSupernodesAnnounceOnceAllHaveCoSigned(t *testing.T) {
	node.SetGatherTimes(t, time.Hour, time.Hour)
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 3, Threshold: 2})
	s, err := l.Agents[0].Overlay().Subscribe(l.Agents[0].Overlay().AnnounceTopic())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publishAndWait(t, l, "PNT-2026-0012")
	if cosigs := announced(t, s); len(cosigs) == 0 || cosigs[0] != 3 {
		t.Errorf("announcements heard with %v co-signatures, want the first with all 3", cosigs)
	}
}

// announced drains s, returning each gossiped message's supernode
// co-signatures (its signatures but the publisher's). Items caught up by
// /patchnet/sync are left out: the publisher keeps its bare proposal for
// supernodes that were offline, and an agent whose mesh formed late may
// fetch it before the announcement arrives (it waits there, pending),
// which says nothing about what the supernodes announce.
func announced(t *testing.T, s *overlay.Subscription) []int {
	var out []int
	for {
		select {
		case m := <-s.Messages():
			if m.CatchUp {
				continue
			}
			env, err := trust.ParseEnvelope(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, len(env.Signatures)-1)
		default:
			return out
		}
	}
}

// TestLateAgentCatchesUpFromPublisherAlone: a node that merged the
// co-signatures on the supernodes' topic keeps the co-signed envelope for
// peers catching up, though the announcement adds nothing for it when it
// comes: an agent offline through the rollout, with only the publisher
// left to ask, catches up with k co-signatures and installs.
func TestLateAgentCatchesUpFromPublisherAlone(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2})
	publishAndWait(t, l, "PNT-2026-0011")
	for _, m := range append(l.Supernodes, l.Agents...) {
		if err := l.Stop(m); err != nil {
			t.Fatal(err)
		}
	}
	late, err := l.AddAgent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the late agent to install", func() bool { return late.Status().Has(node.EventInstalled) })
}

package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
)

// A supernode whose [cosign] policy binds the publisher to another vendor
// origin refuses the proposal; asked by the publisher, it says so and why,
// in an answer it signed, while the other supernode says it co-signed. An
// agent asking is told nothing: how a proposal fares is the publishers'.
func TestCoSignProgressTellsPublisherWhySupernodeRefused(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			if name == "supernode-2" {
				p := cfg.CoSign.Publishers["*"]
				p.Origins = []string{"http://127.0.0.1:1/elsewhere/"}
				cfg.CoSign.Publishers["*"] = p
			}
		}})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0303", 1)
	if err != nil {
		t.Fatal(err)
	}
	env, err := l.Publisher.Publish(ctx, fix)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]node.CoSignStatus
	waitFor(t, 30*time.Second, "supernode-1 to co-sign and supernode-2 to refuse", func() bool {
		progress, err := l.Publisher.CoSignProgress(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]node.CoSignStatus{}
		for _, p := range progress {
			if p.Err == nil {
				got[p.Peer.String()] = p.Status
			}
		}
		return got[l.Supernodes[0].ID().String()].State == node.ProposalCoSigned &&
			got[l.Supernodes[1].ID().String()].State == node.ProposalRefused
	})
	refusal := got[l.Supernodes[1].ID().String()]
	if !strings.Contains(refusal.Reason, "outside the publisher's vendor origins") || !strings.Contains(refusal.Reason, "/elsewhere/") ||
		refusal.ID != fix.ID || refusal.Version != 1 {
		t.Errorf("supernode-2's status %+v, want its refusal naming the origin it allows", refusal)
	}
	e, ok := l.Supernodes[1].Status().Last(node.EventRefused)
	if !ok || e.Reason != "outside-origins" {
		t.Errorf("supernode-2's refused event %+v, want reason outside-origins", e)
	}
	progress, err := l.Agents[0].CoSignProgress(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) != 2 {
		t.Fatalf("the agent asked %d supernodes, want 2", len(progress))
	}
	for _, p := range progress {
		if p.Err == nil || !strings.Contains(p.Err.Error(), "wrong role") {
			t.Errorf("an agent asking %s got %+v, %v; want a refusal for its role", p.Peer, p.Status, p.Err)
		}
	}
}

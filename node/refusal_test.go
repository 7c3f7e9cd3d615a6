package node_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
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
	// It asks the verified supernodes it is connected to.
	agent := l.Agents[0]
	waitSupernodesVerified(t, l, agent)
	progress, err := agent.CoSignProgress(ctx, env)
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

// A publisher believes only a status its supernode signed: an answer that
// supernode-2 serves signed by supernode-1 (a relay replaying another's
// statement), or by an agent, is refused by name and never shows as
// supernode-2's state.
func TestCoSignProgressRefusesForgedAnswers(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0304", 1)
	if err != nil {
		t.Fatal(err)
	}
	env, err := l.Publisher.Publish(ctx, fix)
	if err != nil {
		t.Fatal(err)
	}
	rogue := l.Supernodes[1]
	for _, tc := range []struct {
		name   string
		signer *nodelab.Member
		want   string
	}{
		{"signed by another supernode", l.Supernodes[0], "certificate names another peer"},
		{"signed by an agent", l.Agents[0], "wrong role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, err := tc.signer.Credentials()
			if err != nil {
				t.Fatal(err)
			}
			rogue.Overlay().Host().SetStreamHandler(node.CoSignStatusProtocol, func(s network.Stream) {
				defer s.Close()
				var st node.CoSignStatus
				if err := json.NewDecoder(io.LimitReader(s, 1<<10)).Decode(&st); err != nil {
					s.Reset()
					return
				}
				st.Zone, st.State, st.Reason, st.Time = l.Zone, node.ProposalRefused, "forged", time.Now()
				payload, _ := json.Marshal(st)
				e := trust.NewEnvelope(node.CoSignStatusPayloadType, payload)
				if err := creds.Sign(e); err != nil {
					s.Reset()
					return
				}
				raw, _ := e.Marshal()
				s.Write(raw)
			})
			progress, err := l.Publisher.CoSignProgress(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range progress {
				if p.Peer != rogue.ID() {
					continue
				}
				if p.Err == nil || !strings.Contains(p.Err.Error(), tc.want) || p.Status.State != "" {
					t.Errorf("the forged answer gave %+v, %v; want refused: %s", p.Status, p.Err, tc.want)
				}
				return
			}
			t.Fatalf("the publisher did not ask %s", rogue.Name)
		})
	}
}

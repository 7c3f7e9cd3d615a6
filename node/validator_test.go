package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// The gossip validator maps trust outcomes to verdicts: forged or malformed
// → Reject, stale (expired, older than accepted) → Ignore, a partially
// co-signed but genuine envelope → Accept (co-signatures travel that way).
func TestValidatorVerdicts(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1})
	ctx := context.Background()
	agent, pub, sn := l.Agents[0], l.Publisher, l.Supernodes[0]
	fix, err := l.Fix(ctx, "PNT-2026-0004", 2)
	if err != nil {
		t.Fatal(err)
	}
	// Payloads the agent has not merged yet: the validator verifies only
	// what adds to what it holds.
	fresh, unseen := *fix, *fix
	fresh.Patchnet.Version, unseen.Patchnet.Version = 3, 4
	valid := signWith(t, &fresh, pub)
	forged := append([]byte(nil), valid...)
	forged[len(forged)/2] ^= 1 // inside the base64 payload: the signature no longer matches
	expired := *fix
	expired.Modified = time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Second)
	expired.Published = expired.Modified
	expired.Patchnet.Expires = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	older := *fix
	older.Patchnet.Version = 1
	wrongType := trust.NewEnvelope("text/plain", []byte("hello"))
	c, err := pub.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sign(wrongType); err != nil {
		t.Fatal(err)
	}
	wrongTypeRaw, _ := wrongType.Marshal()
	// A valid publisher signature plus a forged one under the supernode's
	// key id: relayed, it could take the supernode's place in merges.
	spoofed, err := trust.ParseEnvelope(signWith(t, &fresh, pub, sn))
	if err != nil {
		t.Fatal(err)
	}
	spoofed.Signatures[1].Sig[0] ^= 1
	spoofedRaw, _ := spoofed.Marshal()

	// The agent accepts version 2 first, so version 1 becomes stale.
	if _, err := pub.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the agent to accept version 2", func() bool { return agent.Status().Has(node.EventAccepted) })

	for _, tc := range []struct {
		name string
		data []byte
		want overlay.Verdict
	}{
		{"forged", forged, overlay.Reject},
		{"forged co-signature beside a valid one", spoofedRaw, overlay.Reject},
		{"publisher only", valid, overlay.Accept},
		{"co-signed", signWith(t, &fresh, pub, sn), overlay.Accept},
		{"the same again: adds nothing", signWith(t, &fresh, pub, sn), overlay.Ignore},
		{"malformed", []byte("{\"payloadType\":"), overlay.Reject},
		{"wrong payload type", wrongTypeRaw, overlay.Reject},
		{"no publisher", signWith(t, &unseen, sn), overlay.Reject},
		{"signed by an agent", signWith(t, fix, agent), overlay.Reject},
		{"expired", signWith(t, &expired, pub, sn), overlay.Ignore},
		{"rollback", signWith(t, &older, pub, sn), overlay.Ignore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdict(agent, tc.data); got != tc.want {
				t.Errorf("verdict %v, want %v", got, tc.want)
			}
		})
	}
}

// An envelope of an older version, fully co-signed, reaches the agent after
// a newer one was accepted: gossip ignores it and the pipeline refuses it,
// so nothing is installed from it.
func TestRejectsRollback(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0005", 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to install version 5", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	older := *fix
	older.Patchnet.Version = 4
	raw := signWith(t, &older, l.Publisher, l.Supernodes[0], l.Supernodes[1])
	for _, a := range l.Agents {
		if v := verdict(a, raw); v != overlay.Ignore {
			t.Errorf("%s: verdict %v for a rolled-back version, want ignore", a.Name, v)
		}
	}
	// Bypass gossip: the acceptance pipeline itself must refuse it.
	v := verifierFor(t, l)
	seen := updates.NewMemorySeenStore()
	zone, err := l.ZoneRef()
	if err != nil {
		t.Fatal(err)
	}
	ac, err := updates.NewAcceptor(v, updates.Policy{Zone: zone, Threshold: 2, Publishers: 1, RequireCRL: true}, seen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Accept(signWith(t, fix, l.Publisher, l.Supernodes[0], l.Supernodes[1])); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Accept(raw); err == nil {
		t.Error("version 4 accepted after version 5")
	}
	for _, a := range l.Agents {
		if n := a.Status().Count[node.EventAccepted]; n != 1 {
			t.Errorf("%s accepted %d announcements, want only version 5", a.Name, n)
		}
	}
}

// verifierFor pins the lab's root and learns its zone CA.
func verifierFor(t testing.TB, l *nodelab.Lab) *trust.Verifier {
	t.Helper()
	roots, err := trust.ReadCertificatesFile(l.RootCert)
	if err != nil {
		t.Fatal(err)
	}
	vc := trust.DefaultVerifierConfig()
	vc.Roots = roots
	v, err := trust.NewVerifier(vc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Publisher.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddIntermediates(c.Chain[1:]...); err != nil {
		t.Fatal(err)
	}
	for _, path := range l.CRLFiles() {
		der, err := trust.ReadCRLFile(path)
		if err == nil {
			_, err = v.AddCRL(der)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// verdict is n's validator's verdict on raw as a gossip message on the
// announce topic. The validator merges what it accepts: a second call with
// the same bytes is a copy that adds nothing.
func verdict(n *nodelab.Member, raw []byte) overlay.Verdict {
	v, _ := n.ValidateMessage(context.Background(), n.Overlay().AnnounceTopic(), "", raw)
	return v
}

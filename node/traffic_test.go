package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
)

// Traffic analysis (seed paper's threat): delivery is broadcast, so who
// receives an announcement says nothing about who is vulnerable. An update
// for a package no agent has still reaches, and is verified by, every agent
// — exactly as one that applies would — and the unaffected agents then make
// no request at all: no content fetch, nothing to the vendor. (An affected
// agent's fetch is visible to the peers it fetches from; see the note in
// node/doc.go.)
func TestTrafficAnalysisBroadcastDelivery(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0002", 1)
	if err != nil {
		t.Fatal(err)
	}
	fix.Affected[0].Package.Name = "openssh-server" // installed on no agent
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to receive, verify and decide", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventNotApplied) || s.Has(node.EventFetched) })
		return len(no) == 0
	})
	for _, a := range l.Agents {
		s := a.Status()
		if !s.Has(node.EventAccepted) {
			t.Errorf("%s never received and verified the announcement\n%s", a.Name, describe(l))
		}
		if s.Has(node.EventFetched) || s.Has(node.EventInstalled) {
			t.Errorf("%s fetched or installed an update that does not apply to it\n%s", a.Name, describe(l))
		}
		if v := installedVersion(t, a); v != nodelab.OldVersion {
			t.Errorf("%s has %q, want %s untouched", a.Name, v, nodelab.OldVersion)
		}
	}
	// Each supernode checks the artifact at the vendor's origin, once; the
	// unaffected agents ask nothing.
	if sent, hits := l.VendorBytes(); hits != int64(len(l.Supernodes)) {
		t.Errorf("the vendor saw %d requests (%d bytes), want one per supernode (%d): unaffected agents must not ask", hits, sent, len(l.Supernodes))
	}
}

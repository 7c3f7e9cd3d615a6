package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
	"github.com/patchnet/patchnet/updates"
)

// One agent opts in to install reports, the other keeps the default. Both
// install the fix; each supernode holds the opted-in agent's report, by
// name, and was never opened a report stream by the other: the opted-out
// agent is stopped first (Run waits for any report it is sending), so a
// default that sent would be counted here.
func TestInstallReportsOnlyFromAgentsThatOptIn(t *testing.T) {
	const optedIn = "agent-01"
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2, Configure: func(name string, cfg *node.Config) {
		if name == optedIn {
			cfg.Report.Enabled = true
		}
	}})
	in, out := l.Agents[0], l.Agents[1]
	// An agent reports to the verified supernodes it is connected to.
	waitSupernodesVerified(t, l, in)
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0301", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "both agents to install the fix", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return hasEvent2(s, node.EventInstalled, fix.ID) })
		return len(no) == 0
	})
	for _, sn := range l.Supernodes {
		waitFor(t, 30*time.Second, sn.Name+" to hold "+optedIn+"'s install report", func() bool {
			sums, err := sn.Reports()
			return err == nil && len(sums) == 1 && sums[0].Counts[node.OutcomeInstalled] == 1
		})
	}
	if err := l.Stop(out); err != nil {
		t.Fatal(err)
	}
	for _, sn := range l.Supernodes {
		sums, err := sn.Reports()
		if err != nil {
			t.Fatal(err)
		}
		want := []node.ReportSummary{{ID: fix.ID, Version: 1, Counts: map[node.ReportOutcome]int{node.OutcomeInstalled: 1},
			Agents: []node.ReportAgent{{Agent: in.ID().String(), Outcome: node.OutcomeInstalled}}}}
		if diff := cmp.Diff(want, sums, cmpopts.IgnoreFields(node.ReportAgent{}, "At")); diff != "" {
			t.Errorf("%s's install reports:\n%s", sn.Name, diff)
		}
		if n := sn.ReportStreams(); n != 1 {
			t.Errorf("%s was opened %d report streams, want 1 (the opted-in agent's): the opted-out agent sent one", sn.Name, n)
		}
	}
	if out.Status().Has(node.EventReported) {
		t.Errorf("%s, opted out, reported its install", out.Name)
	}
	if e, ok := in.Status().Last(node.EventReported); !ok || !strings.Contains(e.Detail, "sent to 2 supernode(s)") {
		t.Errorf("%s's report event %+v, want sent to both supernodes", in.Name, e)
	}
}

// A supernode refuses, by name, every install report that is not an
// agent of its zone reporting for itself (over a stream from an admitted
// agent of the zone) on an update the supernode had a proposal of, and
// keeps none of them; a genuine one is kept.
func TestForgedInstallReportsRejected(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 1, Threshold: 1})
	ctx := context.Background()
	agent, sn := l.Agents[0], l.Supernodes[0]
	creds, err := agent.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	snCreds, err := l.Supernodes[0].Credentials()
	if err != nil {
		t.Fatal(err)
	}
	other := otherZoneAgent(t, l)
	fix := publishCoSigned(t, l, "PNT-2026-0302", sn)
	report := node.InstallReport{Zone: l.Zone, ID: fix.ID, Version: 1, Outcome: node.OutcomeInstalled, Time: time.Now()}
	badSig := forgedSignature(t, signedReport(t, report, creds))
	wrongZoneField := report
	wrongZoneField.Zone = "elsewhere"
	unpublished, later := report, report
	unpublished.ID, later.Version = "PNT-2026-9999", 2
	for _, tc := range []struct {
		name   string
		from   *node.Node
		raw    []byte
		reason string
	}{
		{"forged signature", agent.Node, badSig, "bad-signature"},
		{"agent of another zone", agent.Node, signedReport(t, report, other), "wrong-zone"},
		{"signed by a supernode", agent.Node, signedReport(t, report, snCreds), "wrong-role"},
		{"sent by a publisher", l.Publisher.Node, signedReport(t, report, creds), "wrong-role"},
		{"relayed by another agent", l.Agents[1].Node, signedReport(t, report, creds), "peer-id-mismatch"},
		{"payload of another zone", agent.Node, signedReport(t, wrongZoneField, creds), "wrong-zone"},
		{"oversized", agent.Node, bytes.Repeat([]byte("x"), node.MaxReportBytes+1), "oversized"},
		{"not an envelope", agent.Node, []byte("installed, honest"), "malformed"},
		{"an update never published", agent.Node, signedReport(t, unpublished, creds), "unknown-update"},
		{"a version never published", agent.Node, signedReport(t, later, creds), "unknown-update"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := sn.Status().Count[node.EventReportRejected]
			err := node.DeliverReport(ctx, tc.from.Overlay().Host(), sn.ID(), tc.raw)
			if err == nil || !strings.Contains(err.Error(), "refusing install report") {
				t.Fatalf("delivering: %v, want a refusal", err)
			}
			st := sn.Status()
			e, _ := st.Last(node.EventReportRejected)
			if st.Count[node.EventReportRejected] != before+1 || e.Reason != tc.reason {
				t.Errorf("supernode's rejection %q (%s), want reason %s; sender was told: %v", e.Detail, e.Reason, tc.reason, err)
			}
		})
	}
	if sums, err := sn.Reports(); err != nil || len(sums) != 0 {
		t.Fatalf("reports kept after forgeries: %+v, %v", sums, err)
	}
	if err := node.DeliverReport(ctx, agent.Overlay().Host(), sn.ID(), signedReport(t, report, creds)); err != nil {
		t.Fatalf("a genuine report: %v", err)
	}
	if sums, err := sn.Reports(); err != nil || len(sums) != 1 || sums[0].Agents[0].Agent != agent.ID().String() {
		t.Fatalf("reports kept: %+v, %v; want the agent's", sums, err)
	}
	crl, err := l.Revoke(agent)
	if err != nil {
		t.Fatal(err)
	}
	crls := sn.Status().Count[node.EventCRL]
	if err := l.Publisher.PublishCRL(ctx, crl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the supernode to apply the CRL", func() bool { return sn.Status().Count[node.EventCRL] > crls })
	err = node.DeliverReport(ctx, agent.Overlay().Host(), sn.ID(), signedReport(t, report, creds))
	if e, _ := sn.Status().Last(node.EventReportRejected); err == nil || e.Reason != "revoked" {
		t.Errorf("a revoked agent's report: %v; the supernode's rejection %q (%s), want reason revoked", err, e.Detail, e.Reason)
	}
}

// publishCoSigned publishes version 1 of the lab's fix id and waits
// until supernode sn co-signed it.
func publishCoSigned(t *testing.T, l *nodelab.Lab, id string, sn *nodelab.Member) *updates.Announcement {
	t.Helper()
	fix, err := l.Fix(context.Background(), id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(context.Background(), fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, sn.Name+" to co-sign", func() bool { return sn.Status().Has(node.EventCoSigned) })
	return fix
}

// signedReport is r signed by creds, as an agent sends it.
func signedReport(t *testing.T, r node.InstallReport, creds *trust.Credentials) []byte {
	t.Helper()
	payload, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	env := trust.NewEnvelope(node.ReportPayloadType, payload)
	if err := creds.Sign(env); err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// forgedSignature is raw with one bit of its signature flipped.
func forgedSignature(t *testing.T, raw []byte) []byte {
	t.Helper()
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	env.Signatures[0].Sig[len(env.Signatures[0].Sig)/2] ^= 1
	out, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// otherZoneAgent is an agent of zone "other" under the lab's own root.
func otherZoneAgent(t *testing.T, l *nodelab.Lab) *trust.Credentials {
	t.Helper()
	dir := t.TempDir()
	zoneDir := filepath.Join(dir, "zone")
	if _, err := ca.InitZone(filepath.Join(l.Dir, "pki", "root"), "other", zoneDir, ca.DefaultZoneOptions()); err != nil {
		t.Fatal(err)
	}
	key, csr, err := ca.Request(dir, ca.RequestOptions{Role: trust.RoleAgent, Zone: "other"})
	if err != nil {
		t.Fatal(err)
	}
	crt, _, err := ca.SignFile(zoneDir, csr, ca.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := trust.LoadCredentials(key, crt)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// waitSupernodesVerified waits until agent is connected to every supernode
// of l, each having verified the other: the lab's agents bootstrap off the first
// supernode and find the others through the DHT, and what an agent sends
// its supernodes (install reports, questions) goes to those it is
// connected to.
func waitSupernodesVerified(t *testing.T, l *nodelab.Lab, agent *nodelab.Member) {
	t.Helper()
	waitFor(t, 30*time.Second, agent.Name+" and every supernode connected, each side having verified the other", func() bool {
		for _, sn := range l.Supernodes {
			if info, ok := agent.Overlay().PeerInfo(sn.ID()); !ok || !info.Verified {
				return false
			}
			// The supernode answers a query only from a peer it admitted:
			// its own check of the agent may end after the agent's.
			if info, ok := sn.Overlay().PeerInfo(agent.ID()); !ok || !info.Verified {
				return false
			}
		}
		return true
	})
}

// reportWaiting builds a zone of one agent (its state on disk, reporting
// while reportAgain holds) and one supernode, and has the agent install a
// fix it caught up on while the supernode that co-signed it was down: no
// supernode takes its report, which it keeps. It returns with the agent
// stopped and the supernode started again.
func reportWaiting(t *testing.T, reporting *atomic.Bool) (*nodelab.Lab, *updates.Announcement) {
	t.Helper()
	reporting.Store(true)
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1, Configure: func(name string, cfg *node.Config) {
		if strings.HasPrefix(name, "agent-") {
			cfg.InMemory = false
			cfg.Report.Enabled = reporting.Load()
			cfg.Metrics.Listen = "127.0.0.1:0"
		}
	}})
	agent, sn := l.Agents[0], l.Supernodes[0]
	ctx := context.Background()
	if err := l.Stop(agent); err != nil {
		t.Fatal(err)
	}
	fix := publishCoSigned(t, l, "PNT-2026-0303", sn)
	if err := l.Stop(sn); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, agent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, agent.Name+" to install the fix and keep its report", func() bool {
		return agent.Status().Has(node.EventReportWaiting)
	})
	if !agent.Status().Has(node.EventInstalled) || agent.Status().Has(node.EventReported) {
		t.Fatalf("%s kept a report without installing, or sent it with no supernode up:\n%s", agent.Name, describe(l))
	}
	if n := agent.ReportsWaiting(); n != 1 {
		t.Fatalf("%s keeps %d reports, want 1", agent.Name, n)
	}
	if got := value(scrape(t, agent.MetricsAddr()), "patchnet_install_reports_waiting", nil); got != 1 {
		t.Errorf("%s's patchnet_install_reports_waiting = %v, want 1", agent.Name, got)
	}
	if err := l.Stop(agent); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, sn); err != nil {
		t.Fatal(err)
	}
	return l, fix
}

// An agent that installed while no supernode was up (the one that
// co-signed had gone down after co-signing) keeps its install report in
// its database, across a restart, and the supernode holds it once it is
// back: reports were sent once, to the supernodes connected at install
// time, and lost otherwise.
func TestInstallReportKeptUntilASupernodeTakesIt(t *testing.T) {
	var reporting atomic.Bool
	l, fix := reportWaiting(t, &reporting)
	agent, sn := l.Agents[0], l.Supernodes[0]
	if err := l.Start(context.Background(), agent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, sn.Name+" to hold the kept report", func() bool {
		sums, err := sn.Reports()
		return err == nil && len(sums) == 1
	})
	sums, err := sn.Reports()
	if err != nil {
		t.Fatal(err)
	}
	want := []node.ReportSummary{{ID: fix.ID, Version: 1, Counts: map[node.ReportOutcome]int{node.OutcomeInstalled: 1},
		Agents: []node.ReportAgent{{Agent: agent.ID().String(), Outcome: node.OutcomeInstalled}}}}
	if diff := cmp.Diff(want, sums, cmpopts.IgnoreFields(node.ReportAgent{}, "At")); diff != "" {
		t.Errorf("%s's install reports:\n%s", sn.Name, diff)
	}
	waitFor(t, 30*time.Second, agent.Name+" to drop the report taken", func() bool { return agent.ReportsWaiting() == 0 })
	if e, ok := agent.Status().Last(node.EventReported); !ok || !strings.Contains(e.Detail, "after 1 round(s)") {
		t.Errorf("%s's report event %+v, want it sent after the round that kept it", agent.Name, e)
	}
}

// An agent that opts out discards the reports it kept: restarted with
// reporting off, beside its supernode, it sends none of them.
func TestOptingOutDiscardsWaitingReports(t *testing.T) {
	var reporting atomic.Bool
	l, _ := reportWaiting(t, &reporting)
	agent, sn := l.Agents[0], l.Supernodes[0]
	reporting.Store(false)
	if err := l.Start(context.Background(), agent); err != nil {
		t.Fatal(err)
	}
	if n := agent.ReportsWaiting(); n != 0 {
		t.Errorf("%s, opted out, keeps %d reports", agent.Name, n)
	}
	waitSupernodesVerified(t, l, agent)
	if err := l.Stop(agent); err != nil { // Run's loops have ended: anything sent is counted
		t.Fatal(err)
	}
	if n := sn.ReportStreams(); n != 0 {
		t.Errorf("%s was opened %d report streams by an agent that opted out", sn.Name, n)
	}
}

// A zone's worth of install reports, or an agent sending refusable ones
// without end, does not push a supernode's own events out of its log:
// after more reports than the log holds, the events its /v1/status shows
// (the APIStatusEvents most recent, what testnet collect's checks read)
// still have it co-signing the fix; the reports are all counted and the
// most recent kept apart.
func TestReportFloodKeepsSupernodeEvents(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1})
	agent, sn := l.Agents[0], l.Supernodes[0]
	fix := publishCoSigned(t, l, "PNT-2026-0303", sn)
	for range node.MaxEvents + 1 {
		if err := node.DeliverReport(t.Context(), agent.Overlay().Host(), sn.ID(), []byte("installed, honest")); err == nil {
			t.Fatal("a malformed report was taken")
		}
	}
	st := sn.Status()
	if n := st.Count[node.EventReportRejected]; n != node.MaxEvents+1 {
		t.Errorf("%d rejected reports counted, want %d", n, node.MaxEvents+1)
	}
	shown := st.Events[max(0, len(st.Events)-node.APIStatusEvents):]
	if !slices.ContainsFunc(shown, func(e node.Event) bool { return e.Kind == node.EventCoSigned && e.ID == fix.ID }) {
		t.Errorf("the supernode's status no longer shows it co-signing %s: %d events, the last %+v", fix.ID, len(st.Events), shown[len(shown)-1])
	}
	if e, ok := st.Last(node.EventReportRejected); !ok || (e.Reason != "malformed" && e.Reason != "rate-limited") || len(st.Tallied) != node.MaxTalliedEvents {
		t.Errorf("last rejected report %+v (%v), %d kept apart; want malformed or rate-limited, %d", e, ok, len(st.Tallied), node.MaxTalliedEvents)
	}
}

// An agent that sends install reports without end spends its budget: past
// ReportBurst (refilled at ReportRate) the supernode refuses them unread,
// as rate-limited, instead of verifying and logging each; another agent's
// genuine report is still taken.
func TestReportFloodRateLimited(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 1, Threshold: 1})
	flooder, honest, sn := l.Agents[0], l.Agents[1], l.Supernodes[0]
	fix := publishCoSigned(t, l, "PNT-2026-0304", sn)
	const extra = 20
	start := time.Now()
	limited := 0
	for range node.ReportBurst + extra {
		err := node.DeliverReport(t.Context(), flooder.Overlay().Host(), sn.ID(), []byte("installed, honest"))
		switch {
		case err == nil:
			t.Fatal("a malformed report was taken")
		case strings.Contains(err.Error(), "rate-limited"):
			limited++
		case !strings.Contains(err.Error(), "malformed"):
			t.Fatalf("refused for another reason: %v", err)
		}
	}
	// Tokens refilled while the flood ran may have let a few more through.
	refilled := int(time.Since(start).Seconds()*node.ReportRate) + 1
	if limited < extra-refilled || limited > extra {
		t.Errorf("%d of %d reports refused as rate-limited, want %d less at most %d refilled", limited, node.ReportBurst+extra, extra, refilled)
	}
	creds, err := honest.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	report := node.InstallReport{Zone: l.Zone, ID: fix.ID, Version: 1, Outcome: node.OutcomeInstalled, Time: time.Now()}
	if err := node.DeliverReport(t.Context(), honest.Overlay().Host(), sn.ID(), signedReport(t, report, creds)); err != nil {
		t.Errorf("another agent's genuine report during the flood: %v", err)
	}
}

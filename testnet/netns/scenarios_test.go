package netns

import (
	"slices"
	"testing"

	"github.com/patchnet/patchnet/testnet"
)

// requireChecks fails unless every named check is in the report (run
// already failed the test for a false one): a scenario that skipped a
// check must not pass for it.
func requireChecks(t *testing.T, rep *testnet.Report, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, ok := rep.Checks[name]; !ok {
			t.Errorf("no check %s in %v", name, rep.Checks)
		}
	}
}

// Late join through processes: agents started after the others installed
// catch up from their peers and install, each timed from its start.
func TestLateJoin(t *testing.T) {
	p := params(t, testnet.ScenarioLateJoin, 3)
	rep := run(t, p)
	requireChecks(t, rep, "online_installed", "late_joiners_caught_up")
	late := testnet.LateJoiners(p.Nodes)
	if got := rep.Stages["caught_up"]; got.Delivered != 1 {
		t.Errorf("caught_up %+v: want every one of the %d late agents", got, late)
	}
	if len(rep.Samples) != p.Nodes+late || rep.Nodes != p.Nodes+late {
		t.Errorf("%d samples, %d nodes: want the %d online agents and %d late ones", len(rep.Samples), rep.Nodes, p.Nodes, late)
	}
}

// A partition through processes: the cut side (no supernode, half the
// agents) hears nothing of the fix the connected side installs, and
// after the heal catches up through catch-up and installs.
func TestPartition(t *testing.T) {
	p := params(t, testnet.ScenarioPartition, 4)
	rep := run(t, p)
	requireChecks(t, rep, "connected_side_accepted", "connected_side_installed", "cut_side_waited", "cut_isolated", "healed_caught_up", "caught_up_through_sync")
	for _, stage := range []string{"connected_side", "caught_up"} {
		if rep.Stages[stage].Delivered != 1 {
			t.Errorf("stage %s %+v: want every agent of its side", stage, rep.Stages[stage])
		}
	}
	t.Logf("connected side accepted p50 %.0f ms; the cut side installed p50 %.0f ms, max %.0f ms after the heal",
		rep.Stages["connected_side"].P50MS, rep.Stages["caught_up"].P50MS, rep.Stages["caught_up"].MaxMS)
}

// A stolen publisher key through processes: `patchnet publish` with the
// publisher's own config passes the old package off as the fix; every
// supernode refuses after checking the vendor's origin, no agent accepts,
// and the real fix then installs everywhere.
func TestStolenKey(t *testing.T) {
	p := params(t, testnet.ScenarioStolenKey, 3)
	rep := run(t, p)
	requireChecks(t, rep, "publish_reported_refusals", "none_cosigned", "no_agent_accepted_stolen", "no_wrong_installs", "all_installed")
	if rep.WrongInstalls != 0 {
		t.Errorf("%d wrong installs", rep.WrongInstalls)
	}
}

// Revocation through processes: the last of three supernodes is revoked
// with `patchnet ca revoke`, the CRL sent with `patchnet publish --crl`
// reaches every running daemon, and the fix installs on the two others'
// co-signatures alone (k = 2), the revoked one's counted nowhere.
func TestRevocation(t *testing.T) {
	p := params(t, testnet.ScenarioRevocation, 3)
	p.Supernodes = 3
	rep := run(t, p)
	requireChecks(t, rep, "crl_applied_everywhere", "all_installed", "revoked_cosigner_never_counted")
}

// Revocation below k: with one of two supernodes revoked (k = 2) the fix
// co-signed by the other stays pending on every agent.
func TestRevocationBelowThreshold(t *testing.T) {
	rep := run(t, params(t, testnet.ScenarioRevocation, 2))
	requireChecks(t, rep, "crl_applied_everywhere", "none_accepted_below_k", "revoked_cosigner_never_counted")
}

// Content through processes: with the origins capped, the vendor and the
// publisher serve at most the supernodes' checks and one more copy; the
// agents serve each other the rest.
func TestContent(t *testing.T) {
	p := params(t, testnet.ScenarioContent, 4)
	p.OriginBandwidth = p.Bandwidth / 4
	rep := run(t, p)
	requireChecks(t, rep, "origin_egress_within_bound", "peers_served", "all_installed")
	checkCounters(t, rep)
}

// netns runs every scenario.
func TestScenariosListed(t *testing.T) {
	if got, want := Scenarios(), slices.Sorted(slices.Values(testnet.Scenarios)); !slices.Equal(got, want) {
		t.Errorf("Scenarios() = %v, want %v", got, want)
	}
}

// A flood through processes: `patchnet testnet flood` forges
// announcements (junk, an impostor PKI's signatures, the fix tampered
// with) and replays the co-signed fix in every shape that adds nothing;
// every agent installs the fix and accepts nothing else, and the agents
// next to the flooders graylist both and disconnect them.
func TestFlood(t *testing.T) {
	rep := run(t, params(t, testnet.ScenarioFlood, 3))
	requireChecks(t, rep, "all_installed", "replays_sent", "forgeries_dropped", "forger_dropped", "replayer_dropped", "nothing_else_accepted")
}

// A byzantine supernode through processes: its co-signature on a
// conflicting payload (with the publisher's), gossiped with the hidden
// `patchnet testnet gossip`, leaves every agent pending;
// once it co-signs the honest fix too, every agent catches it and
// installs the fix on the two honest supernodes' co-signatures, and every
// agent's dpkg holds the fix.
func TestByzantine(t *testing.T) {
	p := params(t, testnet.ScenarioByzantine, 3)
	p.Supernodes = 3
	rep := run(t, p)
	requireChecks(t, rep, "none_accepted_below_k", "all_installed", "conflict_caught_everywhere", "every_agent_has_the_fix", "no_agent_accepted_conflicting", "no_wrong_installs")
	// The honest fix's stages run from its publication: the conflicting
	// payload's earlier events (same id) are left out.
	for _, s := range rep.Samples {
		if s.Receipt <= 0 || s.Accept < s.Receipt || s.Install <= s.Accept {
			t.Errorf("%s: stages %+v, want receipt ≤ accept < install, all after publication", s.Node, s)
		}
	}
}

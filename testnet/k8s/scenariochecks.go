package k8s

import (
	"slices"
	"strings"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
)

// scenarioChecks adds the checks of the scenario the zone played (Spec.Scenario) to
// rep, from what the nodes' statuses and journals say; propagation has
// none beyond collect's own.
func scenarioChecks(rep *testnet.Report, reports []*NodeReport, origin originEgress, o CollectOptions) {
	switch rep.Scenario {
	case testnet.ScenarioPrivateZone:
		privateZoneChecks(rep, reports, o)
	case testnet.ScenarioPartition:
		partitionChecks(rep, reports, o)
	case testnet.ScenarioContent:
		// As netns judges it, with the origin that did not answer failing.
		rep.Checks["origin_egress_within_bound"] = origin.err == nil &&
			rep.OriginEgressBytes <= testnet.OriginEgressBound(rep.Supernodes, rep.ArtifactBytes)
		rep.Checks["peers_served"] = rep.PeerEgressBytes > 0
	case testnet.ScenarioStolenKey:
		stolenChecks(rep, reports)
	case testnet.ScenarioLateJoin:
		lateChecks(rep, reports, o)
	case testnet.ScenarioRevocation:
		revocationChecks(rep, reports, o)
	case testnet.ScenarioChurn:
		churnChecks(rep, reports, o)
	case testnet.ScenarioFlood:
		floodChecks(rep, reports, o)
	case testnet.ScenarioByzantine:
		rep.Checks["conflict_caught_everywhere"] = everyAgent(reports, func(st *node.APIStatus) bool {
			return hasEvent(st, o.UpdateID, node.EventConflictingCoSignature)
		})
	}
}

// lateChecks is the late-join scenario's: every late agent answered and
// installed (late_joiners_caught_up).
func lateChecks(rep *testnet.Report, reports []*NodeReport, o CollectOptions) {
	caught := 0
	for _, r := range reports {
		if slices.Contains(o.Late, r.Endpoint) && !installedAt(r, o.UpdateID).IsZero() {
			caught++
		}
	}
	rep.Checks["late_joiners_caught_up"] = len(o.Late) > 0 && caught == len(o.Late)
}

// stolenChecks are the stolen-key scenario's: every supernode read
// refused the thief's update (supernodes_refused) and none co-signed it
// (none_cosigned), and no agent accepted it (no_agent_accepted_stolen);
// an agent that installed it is a wrong install already.
func stolenChecks(rep *testnet.Report, reports []*NodeReport) {
	refused, cosigned, accepted := 0, 0, 0
	for _, r := range reports {
		switch nodeRole(r.Status) {
		case trust.RoleSupernode:
			if hasEvent(r.Status, StolenUpdateID, node.EventRefused) {
				refused++
			}
			if hasEvent(r.Status, StolenUpdateID, node.EventCoSigned) {
				cosigned++
			}
		case trust.RoleAgent:
			if hasEvent(r.Status, StolenUpdateID, node.EventAccepted) {
				accepted++
			}
		}
	}
	rep.Checks["supernodes_refused"] = refused == rep.Supernodes && refused > 0
	rep.Checks["none_cosigned"] = cosigned == 0
	rep.Checks["no_agent_accepted_stolen"] = accepted == 0
}

// floodChecks are the flood scenario's: the agents dropped gossip
// (forgeries_dropped: rejected or ignored by validation, or dropped before
// it), every flood target graylisted and disconnected both flooding peers
// (flooders_graylisted), and no agent holds a record of any update but
// the fix (nothing_else_accepted).
func floodChecks(rep *testnet.Report, reports []*NodeReport, o CollectOptions) {
	var dropped uint64
	graylisted := 0
	for _, r := range reports {
		if nodeRole(r.Status) != trust.RoleAgent {
			continue
		}
		for _, k := range []string{"rejected", "ignored", "bad_signature", "queue_full", "throttled"} {
			dropped += r.Status.Overlay[k]
		}
		if slices.Contains(o.FloodTargets, r.Endpoint) && r.Status.Overlay["graylisted"] >= 2 {
			graylisted++
		}
	}
	rep.Checks["forgeries_dropped"] = dropped > 0
	rep.Checks["flooders_graylisted"] = len(o.FloodTargets) > 0 && graylisted == len(o.FloodTargets)
	rep.Checks["nothing_else_accepted"] = everyAgent(reports, func(st *node.APIStatus) bool {
		return !slices.ContainsFunc(st.Updates, func(u node.APIUpdate) bool { return u.ID != o.UpdateID })
	})
}

// churnChecks are the churn scenario's: every agent that was not killed
// accepted and installed the fix (survivors_accepted,
// survivors_installed), and every one killed and started again caught up
// and installed it (restarted_caught_up).
func churnChecks(rep *testnet.Report, reports []*NodeReport, o CollectOptions) {
	var survivors, accepted, installed, caught int
	for _, r := range reports {
		if nodeRole(r.Status) != trust.RoleAgent {
			continue
		}
		done := !installedAt(r, o.UpdateID).IsZero()
		if slices.Contains(o.Restarted, r.Endpoint) {
			if done {
				caught++
			}
			continue
		}
		survivors++
		if hasEvent(r.Status, o.UpdateID, node.EventAccepted) {
			accepted++
		}
		if done {
			installed++
		}
	}
	rep.Checks["survivors_accepted"] = survivors > 0 && accepted == survivors
	rep.Checks["survivors_installed"] = survivors > 0 && installed == survivors
	rep.Checks["restarted_caught_up"] = len(o.Restarted) > 0 && caught == len(o.Restarted)
}

// revocationChecks are the revocation scenario's: every node read but the
// revoked one applied a CRL from the zone's gossip
// (crl_applied_everywhere), and no
// agent accepted the fix on a co-signature of the revoked supernode
// (revoked_cosigner_never_counted).
func revocationChecks(rep *testnet.Report, reports []*NodeReport, o CollectOptions) {
	applied, others := 0, 0
	for _, r := range reports {
		if r.Status.ID == o.RevokedPeer {
			continue // dropped by its peers as they apply the CRL, it may never get it
		}
		others++
		if hasEvent(r.Status, "", node.EventCRL) {
			applied++
		}
	}
	rep.Checks["crl_applied_everywhere"] = applied == others
	rep.Checks["revoked_cosigner_never_counted"] = everyAgent(reports, func(st *node.APIStatus) bool {
		return !slices.ContainsFunc(st.Events, func(e node.APIEvent) bool {
			return e.ID == o.UpdateID && e.Kind == node.EventAccepted &&
				slices.ContainsFunc(e.Signers, func(s string) bool { return strings.Contains(s, o.RevokedPeer) })
		})
	})
}

// everyAgent reports whether cond holds for every agent read (and there
// is one).
func everyAgent(reports []*NodeReport, cond func(*node.APIStatus) bool) bool {
	n := 0
	for _, r := range reports {
		if nodeRole(r.Status) != trust.RoleAgent {
			continue
		}
		if !cond(r.Status) {
			return false
		}
		n++
	}
	return n > 0
}

// hasEvent reports whether st holds an event of kind about update id.
func hasEvent(st *node.APIStatus, id string, kind node.EventKind) bool {
	return slices.ContainsFunc(st.Events, func(e node.APIEvent) bool { return e.ID == id && e.Kind == kind })
}

// privateZoneChecks are the private-zone scenario's, as netns reads them:
// every agent of each zone read installed its own zone's update
// (public_installed, private_installed), no node of a zone heard of the
// other zone's update (public_never_saw_private, private_never_saw_public:
// no event, lifecycle record or pending announcement of it), and no node
// is connected to a node of the other zone (no_peer_across_zones, by the
// peer IDs of the nodes read).
func privateZoneChecks(rep *testnet.Report, reports []*NodeReport, o CollectOptions) {
	private := func(st *node.APIStatus) bool { return st.Zone.Name == PrivateZone }
	ids := map[bool]map[string]bool{false: {}, true: {}}
	for _, r := range reports {
		ids[private(r.Status)][r.Status.ID] = true
	}
	agents, installed := map[bool]int{}, map[bool]int{}
	saw, crossed := map[bool]bool{}, false
	for _, r := range reports {
		p := private(r.Status)
		other := PrivateUpdateID(o.UpdateID)
		if p {
			other = o.UpdateID
		}
		saw[p] = saw[p] || knows(r.Status, other)
		crossed = crossed || slices.ContainsFunc(r.Status.Peers, func(peer node.APIPeer) bool { return ids[!p][peer.ID] })
		if nodeRole(r.Status) == trust.RoleAgent {
			agents[p]++
			if !installedAt(r, o.updateOf(r.Status)).IsZero() {
				installed[p]++
			}
		}
	}
	rep.Checks["public_installed"] = agents[false] > 0 && installed[false] == agents[false]
	rep.Checks["private_installed"] = agents[true] > 0 && installed[true] == agents[true]
	rep.Checks["public_never_saw_private"] = !saw[false]
	rep.Checks["private_never_saw_public"] = !saw[true]
	rep.Checks["no_peer_across_zones"] = !crossed
}

// knows reports whether the node's status mentions update id: an event,
// a lifecycle record or a pending announcement of it.
func knows(st *node.APIStatus, id string) bool {
	return slices.ContainsFunc(st.Events, func(e node.APIEvent) bool { return e.ID == id }) ||
		slices.ContainsFunc(st.Updates, func(u node.APIUpdate) bool { return u.ID == id }) ||
		slices.ContainsFunc(st.Pending, func(p node.APIPending) bool { return p.ID == id })
}

// partitionChecks are the partition scenario's, as netns reads them: the
// connected side's agents installed (connected_side_installed); every cut
// agent raised its heartbeat alarm (cut_side_alarmed), heard nothing of
// the update before the cut healed (cut_side_waited), and installed it
// after (healed_caught_up). The heal is the cut container's stamp, read
// through the pod's Proxy, or else (a state directory, a proxy that
// does not answer) when the agent's alarm cleared. Stages:
// connected_side (acceptance from publication), caught_up (a cut agent's
// install from its heal).
func partitionChecks(rep *testnet.Report, reports []*NodeReport, o CollectOptions) {
	var connected, connectedDone, cut, alarmed, waited, caught int
	var accept, caughtUp []time.Duration
	acceptOf := map[string]time.Duration{}
	for _, s := range rep.Samples {
		acceptOf[s.Node] = s.Accept
	}
	for _, r := range reports {
		if nodeRole(r.Status) != trust.RoleAgent {
			continue
		}
		installed := installedAt(r, o.UpdateID)
		if !slices.Contains(o.Cut, r.Endpoint) {
			connected++
			if !installed.IsZero() {
				connectedDone++
			}
			if d := acceptOf[nodeName(r.Endpoint)]; d > 0 {
				accept = append(accept, d)
			}
			continue
		}
		cut++
		stale, healed := alarm(r.Status)
		if r.Cut != nil && !r.Cut.HealedAt.IsZero() {
			// The heal itself: the alarm clears only at the next
			// heartbeats heard, and catch-up may bring the fix before.
			healed = r.Cut.HealedAt
		}
		if !stale.IsZero() {
			alarmed++
		}
		if first := firstEventAbout(r.Status, o.UpdateID); !healed.IsZero() && (first.IsZero() || first.After(healed)) {
			waited++
		}
		if !installed.IsZero() {
			caught++
			if !healed.IsZero() {
				caughtUp = append(caughtUp, installed.Sub(healed))
			}
		}
	}
	rep.Checks["connected_side_installed"] = connected > 0 && connectedDone == connected
	rep.Checks["cut_side_alarmed"] = len(o.Cut) > 0 && alarmed == len(o.Cut)
	rep.Checks["cut_side_waited"] = len(o.Cut) > 0 && waited == len(o.Cut)
	rep.Checks["healed_caught_up"] = len(o.Cut) > 0 && caught == len(o.Cut)
	rep.Stages["connected_side"] = testnet.Summarize(accept, connected)
	rep.Stages["caught_up"] = testnet.Summarize(caughtUp, cut)
}

// alarm is when the node raised its heartbeat alarm (stale) and when it
// cleared again after that, each zero if it did not.
func alarm(st *node.APIStatus) (stale, cleared time.Time) {
	for _, e := range st.Events {
		switch {
		case e.Kind == node.EventHeartbeatStale && stale.IsZero():
			stale = e.At
		case e.Kind == node.EventHeartbeatOK && e.Reason == "stale" && !stale.IsZero() && cleared.IsZero():
			cleared = e.At
		}
	}
	return stale, cleared
}

// firstEventAbout is the time of the node's first event about update id,
// zero if none.
func firstEventAbout(st *node.APIStatus, id string) time.Time {
	for _, e := range st.Events {
		if e.ID == id {
			return e.At
		}
	}
	return time.Time{}
}

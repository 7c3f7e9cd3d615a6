package k8s

import (
	"slices"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
)

// FillCounters puts the counters the nodes' statuses carry into rep, the
// same way for every mode that reads its nodes through their local API
// (k8s collect, netns):
//
//   - each agent sample (matched by node name): Served, the bytes it served
//     to peers, and FromPeers and FromOrigin, the bytes its fetch of update
//     id got from peers and from the vendor's origin (a fetch served by a
//     publisher alone counts as the origin's, as in sim), and FetchTime,
//     the fetch's own time (its event's took_ms), summarised over rep.Nodes
//     agents as the `fetch` stage when any agent reported one;
//   - PeerEgressBytes: what supernodes and agents served each other;
//     OriginEgressBytes gains what publishers' nodes served (the caller
//     adds what the vendor's HTTP origin served, when it knows it);
//   - DuplicatesPerMessage: gossip copies dropped as duplicates per
//     message delivered, over every node read;
//   - MemoryPerNodeBytes, the mean peak resident set of the nodes read, and
//     CPUSeconds, the CPU time they used together;
//   - AnnouncementBytes: the median size of update id's announcement as
//     the agents accepted it, co-signatures merged (the size the raw
//     gossipsub baseline's messages take).
func FillCounters(rep *testnet.Report, reports []*NodeReport, id string) {
	fillCounters(rep, reports, func(*node.APIStatus) string { return id })
}

// medianSize is the median of the known (positive) sizes, 0 when none is
// known: one node misreporting moves it no further than its neighbour's.
func medianSize(sizes []int64) int64 {
	known := slices.DeleteFunc(slices.Clone(sizes), func(n int64) bool { return n <= 0 })
	if len(known) == 0 {
		return 0
	}
	slices.Sort(known)
	return known[len(known)/2]
}

// fillCounters is FillCounters with each agent's update by its status
// (private-zone: each zone's own).
func fillCounters(rep *testnet.Report, reports []*NodeReport, idOf func(*node.APIStatus) string) {
	publishers := map[string]bool{}
	for _, r := range reports {
		if nodeRole(r.Status) == trust.RolePublisher {
			publishers[r.Status.ID] = true
		}
	}
	var dup, delivered uint64
	var rss, rssNodes int64
	var sizes []int64
	for _, r := range reports {
		st := r.Status
		switch nodeRole(st) {
		case trust.RolePublisher:
			rep.OriginEgressBytes += st.Content.ServedBytes
		case trust.RoleAgent:
			sizes = append(sizes, AnnouncementBytes(st, idOf(st)))
			fallthrough
		case trust.RoleSupernode:
			rep.PeerEgressBytes += st.Content.ServedBytes
		}
		dup += st.Overlay["duplicates"]
		delivered += st.Overlay["delivered"]
		if st.Process.PeakRSSBytes > 0 {
			rss += st.Process.PeakRSSBytes
			rssNodes++
		}
		rep.CPUSeconds += st.Process.CPUSeconds
		if i := slices.IndexFunc(rep.Samples, func(s testnet.Sample) bool { return s.Node == nodeName(r.Endpoint) }); i >= 0 {
			fillSample(&rep.Samples[i], st, idOf(st), publishers)
		}
	}
	if delivered > 0 {
		rep.DuplicatesPerMessage = float64(dup) / float64(delivered)
	}
	fillFetchStage(rep)
	rep.AnnouncementBytes = medianSize(sizes) // as the raw rounds take it
	if rssNodes > 0 {
		rep.MemoryPerNodeBytes = rss / rssNodes
	}
}

// fillFetchStage summarises the samples' fetch times as the `fetch`
// stage, as sim does, over rep.Nodes agents; none when no agent reported
// one (a node too old to time its fetch).
func fillFetchStage(rep *testnet.Report) {
	var fetch []time.Duration
	for _, s := range rep.Samples {
		if s.FetchTime > 0 {
			fetch = append(fetch, s.FetchTime)
		}
	}
	if len(fetch) == 0 {
		return
	}
	if rep.Stages == nil {
		rep.Stages = map[string]testnet.Result{}
	}
	rep.Stages["fetch"] = testnet.Summarize(fetch, max(rep.Nodes, len(fetch)))
}

// fillSample puts an agent's served bytes and its fetch of id (bytes by
// source, detail, time) into s.
func fillSample(s *testnet.Sample, st *node.APIStatus, id string, publishers map[string]bool) {
	s.Served = st.Content.ServedBytes
	for _, e := range st.Events {
		if e.Kind != node.EventFetched || e.ID != id {
			continue
		}
		s.FromOrigin, s.FromPeers, s.Fetch = e.SourceBytes["vendor"], e.SourceBytes["peers"], e.Detail
		s.FetchTime = time.Duration(e.TookMS) * time.Millisecond
		if len(e.From) == 1 && publishers[e.From[0]] {
			s.FromOrigin, s.FromPeers = s.FromOrigin+s.FromPeers, 0
		}
	}
}

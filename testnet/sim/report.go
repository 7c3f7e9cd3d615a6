package sim

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"

	"golang.org/x/sync/errgroup"
)

// fill puts the live agents' samples, percentiles, egress, duplicates and
// wrong installs into rep.
func (z *zone) fill(rep *testnet.Report, live []*nodelab.Member) {
	var receipt, accept, install, fetch []time.Duration
	for _, m := range live {
		s := z.sample(m)
		rep.Samples = append(rep.Samples, s)
		if s.Receipt > 0 {
			receipt = append(receipt, s.Receipt)
		}
		if s.Accept > 0 {
			accept = append(accept, s.Accept)
		}
		if s.Install > 0 {
			install = append(install, s.Install)
		}
		if s.FetchTime > 0 {
			fetch = append(fetch, s.FetchTime)
		}
		if s.Wrong {
			rep.WrongInstalls++
		}
	}
	var cosigned []time.Duration
	for _, m := range z.lab.Supernodes {
		if d := z.since(m.ID(), node.EventCoSigned); d > 0 {
			cosigned = append(cosigned, d)
		}
	}
	// Co-signing is the supernodes' stage: each fetched the artifact at the
	// vendor's origin, checked it and co-signed; agents count from here.
	rep.Stages["cosigned"] = testnet.Summarize(cosigned, len(z.lab.Supernodes))
	rep.Stages["receipt"] = testnet.Summarize(receipt, len(live))
	rep.Stages["accept"] = testnet.Summarize(accept, len(live))
	rep.Stages["install"] = testnet.Summarize(install, len(live))
	rep.Stages["spread"] = testnet.Summarize(spread(accept, cosigned, z.params.Threshold), len(live))
	rep.Stages["fetch"] = testnet.Summarize(fetch, len(live))
	rep.Results[testnet.ResultPatchnet] = rep.Stages["accept"]
	rep.Checks["all_accepted"] = len(accept) == len(live)
	rep.Checks[testnet.CheckNoWrongInstalls] = rep.WrongInstalls == 0
	// The origin is the vendor's server (the supernodes' checks, and any
	// agent that fell back to the vendor URL) and the publisher's node
	// seeding, as netns counts it.
	vendor, _ := z.lab.VendorBytes()
	rep.OriginEgressBytes = z.net.sent(z.lab.Publisher.Name) + vendor
	for _, m := range append(append([]*nodelab.Member(nil), z.lab.Supernodes...), z.lab.Agents...) {
		rep.PeerEgressBytes += z.net.sent(m.Name)
	}
	rep.DuplicatesPerMessage = z.duplicatesPerMessage()
}

// spread is each acceptance counted from the k-th co-signature instead of
// from publication: the time gossip and verification took to carry a
// payload k supernodes had vouched for, the part comparable with raw
// gossipsub (which carries bytes nobody checks). Nil without k
// co-signatures.
func spread(accept, cosigned []time.Duration, k int) []time.Duration {
	if k < 1 || len(cosigned) < k {
		return nil
	}
	c := slices.Clone(cosigned)
	slices.Sort(c)
	kth := c[k-1]
	out := make([]time.Duration, 0, len(accept))
	for _, a := range accept {
		out = append(out, max(a-kth, 0))
	}
	return out
}

// sample is one agent's measurements.
func (z *zone) sample(m *nodelab.Member) testnet.Sample {
	id := m.ID()
	s := testnet.Sample{Node: m.Name, Role: "agent", Receipt: z.receipt(id), Accept: z.since(id, node.EventAccepted),
		Install: z.since(id, node.EventInstalled), Served: z.net.sent(m.Name), WrongInstall: z.wrong(m)}
	s.Wrong = s.WrongInstall != ""
	if f := z.ev.failures(id); len(f) > 0 {
		s.Failures, s.FirstFailure = len(f), f[0].Detail
	}
	if ev, ok := z.ev.fetch(id); ok {
		s.FetchTime = ev.Took
		s.FromOrigin, s.FromPeers, s.Fetch = ev.SourceBytes["vendor"], ev.SourceBytes["peers"], ev.Detail
		if fromPublisher(ev.From, z.lab.Publisher.ID()) {
			s.FromOrigin, s.FromPeers = s.FromOrigin+s.FromPeers, 0
		}
	}
	return s
}

// fromPublisher: the publisher's node alone served the artifact, so its
// bytes count as the origin's.
func fromPublisher(from []peer.ID, publisher peer.ID) bool {
	return len(from) == 1 && from[0] == publisher
}

// wrong says what m installed besides the lab's base and the published
// fix's artifact: the first such install, or "" for none.
func (z *zone) wrong(m *nodelab.Member) string {
	recs, err := m.Installed()
	if err != nil {
		return ""
	}
	for _, r := range recs {
		if r.ID == nodelab.BaseInstall {
			continue
		}
		if z.fix == nil || r.ID != z.fix.ID || r.SHA256 != z.fix.Patchnet.Artifact.SHA256 {
			return fmt.Sprintf("installed %s version %d, artifact %x", r.ID, r.Version, r.SHA256)
		}
	}
	return ""
}

// duplicatesPerMessage is gossip's duplicate deliveries (dropped by
// message ID) per message delivered, over every node.
func (z *zone) duplicatesPerMessage() float64 {
	var dup, delivered uint64
	for _, m := range z.lab.Members() {
		if m.Node == nil || m.Overlay() == nil {
			continue
		}
		st := m.Overlay().Stats()
		dup += st.Duplicates
		delivered += st.Delivered
	}
	if delivered == 0 {
		return 0
	}
	return float64(dup) / float64(delivered)
}

// meshedBeyondBootstrap reports whether every agent in set has a peer on
// the announce topic other than the bootstrap peers (the publisher and the
// first supernode): agents found each other, not only their bootstrap.
// Each question waits for the agent's pubsub loop, so they are asked
// meshChecks at a time: one after another behind a busy 1,000-agent zone
// they took minutes.
func (z *zone) meshedBeyondBootstrap(set []*nodelab.Member) bool {
	boot := map[peer.ID]bool{z.lab.Publisher.ID(): true}
	if len(z.lab.Supernodes) > 0 {
		boot[z.lab.Supernodes[0].ID()] = true
	}
	var lonely atomic.Int64
	var g errgroup.Group
	g.SetLimit(meshChecks)
	for _, m := range set {
		g.Go(func() error {
			ov := m.Overlay()
			if !slices.ContainsFunc(ov.TopicPeers(ov.AnnounceTopic()), func(p peer.ID) bool { return !boot[p] }) {
				lonely.Add(1)
			}
			return nil
		})
	}
	g.Wait()
	return lonely.Load() == 0
}

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
	fillZones(rep, zonePart{z, live})
}

// zonePart is a zone and its live agents, as fillZones reports them.
type zonePart struct {
	z    *zone
	live []*nodelab.Member
}

// durations are a report's samples of each stage.
type durations struct{ receipt, accept, install, fetch, cosigned, spread []time.Duration }

// fillZones is fill over the agents of one or more zones (private-zone
// reports both of its zones as one): each zone's times from its own
// publication, its spread from its own co-signatures.
func fillZones(rep *testnet.Report, parts ...zonePart) {
	var d durations
	var live, supernodes int
	var dup, delivered uint64
	for _, p := range parts {
		p.z.collect(rep, p.live, &d)
		live, supernodes = live+len(p.live), supernodes+len(p.z.lab.Supernodes)
		du, de := p.z.duplicates()
		dup, delivered = dup+du, delivered+de
		// The origin is the vendor's server (the supernodes' checks, and
		// any agent that fell back to the vendor URL) and the publisher's
		// node seeding, as netns counts it.
		vendor, _ := p.z.lab.VendorBytes()
		rep.OriginEgressBytes += p.z.net.sent(p.z.lab.Publisher.Name) + vendor
		for _, m := range append(slices.Clone(p.z.lab.Supernodes), p.z.lab.Agents...) {
			rep.PeerEgressBytes += p.z.net.sent(m.Name)
		}
	}
	// Co-signing is the supernodes' stage: each fetched the artifact at the
	// vendor's origin, checked it and co-signed; agents count from here.
	rep.Stages["cosigned"] = testnet.Summarize(d.cosigned, supernodes)
	rep.Stages["receipt"] = testnet.Summarize(d.receipt, live)
	rep.Stages["accept"] = testnet.Summarize(d.accept, live)
	rep.Stages["install"] = testnet.Summarize(d.install, live)
	rep.Stages["spread"] = testnet.Summarize(d.spread, live)
	rep.Stages["fetch"] = testnet.Summarize(d.fetch, live)
	rep.Results[testnet.ResultPatchnet] = rep.Stages["accept"]
	rep.Checks["all_accepted"] = len(d.accept) == live
	rep.Checks[testnet.CheckNoWrongInstalls] = rep.WrongInstalls == 0
	if delivered > 0 {
		rep.DuplicatesPerMessage = float64(dup) / float64(delivered)
	}
}

// collect adds z's live agents' samples to rep and their times to d.
func (z *zone) collect(rep *testnet.Report, live []*nodelab.Member, d *durations) {
	var accept, cosigned []time.Duration
	for _, m := range live {
		s := z.sample(m)
		rep.Samples = append(rep.Samples, s)
		for _, x := range []struct {
			v   time.Duration
			out *[]time.Duration
		}{{s.Receipt, &d.receipt}, {s.Accept, &accept}, {s.Install, &d.install}, {s.FetchTime, &d.fetch}} {
			if x.v > 0 {
				*x.out = append(*x.out, x.v)
			}
		}
		if s.Wrong {
			rep.WrongInstalls++
		}
	}
	for _, m := range z.lab.Supernodes {
		if c := z.since(m.ID(), node.EventCoSigned); c > 0 {
			cosigned = append(cosigned, c)
		}
	}
	d.accept = append(d.accept, accept...)
	d.cosigned = append(d.cosigned, cosigned...)
	d.spread = append(d.spread, spread(accept, cosigned, z.params.Threshold)...)
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

// duplicates are gossip's duplicate deliveries (dropped by message ID)
// and its deliveries, over every node of the zone.
func (z *zone) duplicates() (dup, delivered uint64) {
	for _, m := range z.lab.Members() {
		if m.Node == nil || m.Overlay() == nil {
			continue
		}
		st := m.Overlay().Stats()
		dup += st.Duplicates
		delivered += st.Delivered
	}
	return dup, delivered
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

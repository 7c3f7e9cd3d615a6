package nodelab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// waitReady waits until the publisher sees every supernode on the
// supernodes' topic and every node has a gossip mesh on the announce topic.
// Between full checks it re-checks only the nodes that lagged at the last
// one (readiness): polling a thousand nodes' meshes every readyPoll took a
// fifth of a 2-core machine from the zone it was waiting for.
func (l *Lab) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(l.ReadyTimeout)
	r := readiness{lab: l}
	for !r.ready() {
		if time.Now().After(deadline) {
			return fmt.Errorf("zone not connected after %v: %s", l.ReadyTimeout, r.why())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
	}
	return nil
}

// readiness is waitReady's state: the members that lagged at the last
// full check and still do, of how many.
type readiness struct {
	lab     *Lab
	members int
	lagging []*Member
}

// ready reports whether the zone is ready, which only a full check finds.
// While members lagged at the last full check it only drops those that
// caught up; when none lag it checks the whole zone again, as a node
// meshed earlier may have lost its mesh since.
func (r *readiness) ready() bool {
	if r.lab.publisherLags() != "" {
		return false
	}
	r.lagging = slices.DeleteFunc(r.lagging, meshed)
	if len(r.lagging) == 0 {
		members := r.lab.Members()
		r.members = len(members)
		r.lagging = slices.DeleteFunc(members, meshed)
	}
	r.lab.Progress("meshed", r.members-len(r.lagging), r.members)
	return len(r.lagging) == 0
}

// why says why the zone is not ready, as of now.
func (r *readiness) why() string {
	if why := r.lab.publisherLags(); why != "" {
		return why
	}
	return unmeshed(r.lagging)
}

// publisherLags says which supernodes the publisher does not see on the
// supernodes' topic, or "".
func (l *Lab) publisherLags() string {
	pub := l.Publisher.Overlay()
	if got := len(pub.TopicPeers(pub.SupernodesTopic())); got < len(l.Supernodes) {
		l.Progress("publisher sees supernodes", got, len(l.Supernodes))
		return fmt.Sprintf("publisher sees %d of %d supernodes: %s", got, len(l.Supernodes), l.unheardSupernodes())
	}
	return ""
}

// meshed reports whether m has a gossip mesh on the announce topic.
func meshed(m *Member) bool {
	ov := m.Overlay()
	return len(ov.MeshPeers(ov.AnnounceTopic())) > 0
}

// unmeshed says which of lag (members without a mesh) lack one and what
// they are connected to, naming at most three; "" for none.
func unmeshed(lag []*Member) string {
	if len(lag) == 0 {
		return ""
	}
	var out []string
	for _, m := range lag[:min(len(lag), 3)] {
		ov := m.Overlay()
		out = append(out, fmt.Sprintf("%s (%d peers, %d on the topic)", m.Name, len(ov.Host().Network().Peers()), len(ov.TopicPeers(ov.AnnounceTopic()))))
	}
	if len(lag) > 3 {
		out = append(out, fmt.Sprintf("%d more", len(lag)-3))
	}
	return "no gossip mesh on the announce topic: " + strings.Join(out, ", ")
}

// unheardSupernodes says, of each supernode missing from the publisher's
// supernodes' topic, whether the two are connected at all and verified:
// a missing link and a silent one need different repairs.
func (l *Lab) unheardSupernodes() string {
	pub := l.Publisher.Overlay()
	heard := map[peer.ID]bool{}
	for _, p := range pub.TopicPeers(pub.SupernodesTopic()) {
		heard[p] = true
	}
	var out []string
	for _, s := range l.Supernodes {
		id := s.Overlay().Host().ID()
		if heard[id] {
			continue
		}
		info, verified := pub.PeerInfo(id)
		out = append(out, fmt.Sprintf("%s (%s, verified %v, %d peers of its own)", s.Name,
			pub.Host().Network().Connectedness(id), verified && info.Verified, len(s.Overlay().Host().Network().Peers())))
	}
	return strings.Join(out, ", ")
}

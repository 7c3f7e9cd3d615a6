package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/patchnet/patchnet/testnet/rawgossip"
)

// RawClient is one pod's part of the raw gossipsub baseline.
type RawClient struct {
	// Origin is the vendor origin's URL prefix (Spec.OriginURL).
	Origin string
	// Name is the client's pod; Supernode says whose it is.
	Name      string
	Supernode bool
	// Node reads the patchnet node beside the peer: its own peer ID and
	// those of the peers it is connected to.
	Node func(ctx context.Context) (self string, peers []string, err error)
	// MessageBytes is the size of the announcement an agent's node
	// accepted (0: unknown, as for a supernode's), registered for the
	// rounds' message size.
	MessageBytes int
	// Log, if set, is told each step.
	Log io.Writer
}

// Run registers p at the origin, waits until the baseline starts, dials
// the raw peers of its node's connected peers, and reports p's counts and
// deliveries every RawReportInterval until the origin says it is done or
// ctx ends.
func (c RawClient) Run(ctx context.Context, p *rawgossip.Peer) error {
	base := strings.TrimSuffix(c.Origin, "/")
	self, _, err := c.Node(ctx)
	if err != nil {
		return err
	}
	reg, _ := json.Marshal(RawPeer{Name: c.Name, Supernode: c.Supernode, NodeID: self, Addrs: rawAddrs(p.Host()), MessageBytes: c.MessageBytes})
	if err := retryPost(ctx, base+rawRegisterPath, reg); err != nil {
		return fmt.Errorf("registering at the raw baseline: %w", err)
	}
	c.logf("registered; waiting for the baseline to start")
	all, err := waitRawPeers(ctx, base)
	if err != nil {
		return err
	}
	if err := c.connect(ctx, p, all); err != nil {
		return err
	}
	return c.report(ctx, base, p)
}

// connect dials the raw peers of the nodes this pod's node is connected
// to now: the zone's topology.
func (c RawClient) connect(ctx context.Context, p *rawgossip.Peer, all []RawPeer) error {
	_, peers, err := c.Node(ctx)
	if err != nil {
		return err
	}
	near := map[string]bool{}
	for _, id := range peers {
		near[id] = true
	}
	dialed := 0
	for _, q := range all {
		if q.Name == c.Name || !near[q.NodeID] {
			continue
		}
		if err := dialRaw(ctx, p, q); err != nil {
			c.logf("%v", err)
			continue
		}
		dialed++
	}
	c.logf("connected to %d of the %d raw peers beside its node's %d peers", dialed, len(near), len(peers))
	return nil
}

// report posts p's counts and deliveries until the origin says done.
// Each answer also times the origin's clock; deliveries are reported on
// it, moved by the offset of the exchange with the shortest round trip
// so far (the least error, as NTP picks).
func (c RawClient) report(ctx context.Context, base string, p *rawgossip.Peer) error {
	var clock originClock
	for {
		rep := RawReport{Name: c.Name, Grafts: p.Grafts(), Prunes: p.Prunes(), Duplicates: p.Duplicates(), Got: map[int64]int64{}}
		for r := range int64(rawgossip.Rounds) {
			if at, ok := p.Got(r); ok {
				rep.Got[r] = at.Add(clock.offset).UnixNano()
			}
		}
		body, _ := json.Marshal(rep)
		var ans RawAnswer
		sent := time.Now()
		if err := postAnswer(ctx, base+rawReportPath, body, &ans); err != nil {
			c.logf("reporting: %v", err)
		} else {
			if clock.sample(sent, time.Now(), ans.Now) {
				c.logf("the origin's clock is %v off this pod's (±%v)", clock.offset, clock.rtt/2)
			}
			if ans.Done {
				c.logf("done: %d of %d rounds delivered here", len(rep.Got), rawgossip.Rounds)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raw baseline: %w before the origin said it was done", ctx.Err())
		case <-time.After(RawReportInterval):
		}
	}
}

// logf tells Log a step.
func (c RawClient) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// waitRawPeers asks the origin for the registrations until the baseline
// started (it answers 503 before) or ctx ends.
func waitRawPeers(ctx context.Context, base string) ([]RawPeer, error) {
	for {
		var all []RawPeer
		code, err := getJSON(ctx, base+rawPeersPath, &all)
		if err == nil {
			return all, nil
		}
		if code >= 400 && code < 500 {
			return nil, fmt.Errorf("waiting for the raw baseline: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the raw baseline to start: %w (last answer: %v)", ctx.Err(), err)
		case <-time.After(RawPoll):
		}
	}
}

// rawAddrs are h's addresses to register, each ending in /p2p/ID: those
// not on loopback, or the loopback ones when there are no others (a zone
// played on one host), at most maxRawAddrs.
func rawAddrs(h host.Host) []string {
	var out, loop []string
	for _, a := range h.Addrs() {
		s := a.Encapsulate(ma.StringCast("/p2p/" + h.ID().String())).String()
		if manet.IsIPLoopback(a) {
			loop = append(loop, s)
		} else {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = loop
	}
	return out[:min(len(out), maxRawAddrs)]
}

// postAnswer posts body to u once and decodes the answer into v.
func postAnswer(ctx context.Context, u string, body []byte, v any) error {
	ans, err := post(ctx, u, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(ans, v)
}

// NodePeers reads a node's own peer ID and its connected peers' from its
// local API (a state directory or URL, as FetchStatus takes).
func NodePeers(endpoint string) func(context.Context) (string, []string, error) {
	return func(ctx context.Context) (string, []string, error) {
		st, err := FetchStatus(ctx, endpoint)
		if err != nil {
			return "", nil, err
		}
		ids := make([]string, 0, len(st.Peers))
		for _, p := range st.Peers {
			ids = append(ids, p.ID)
		}
		return st.ID, ids, nil
	}
}

package k8s

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates/install"
)

// NodeReport is what one node's API said.
type NodeReport struct {
	// Endpoint is where it was read: a state directory (the node's unix
	// socket) or the URL of its Proxy.
	Endpoint string
	Status   *node.APIStatus
	// History is its install journal; nil for a node that keeps none.
	History []*install.Transaction
	// Cut is a partition's cut pod's stamps (its Proxy's CutPath); nil
	// when not read.
	Cut *CutState
	// ClockOffset is the node's clock minus the collector's, measured
	// around the status read (zero within that read's error). Every time
	// above is on the collector's clock already: Fetch moved them.
	ClockOffset time.Duration
}

// Fetch reads /v1/status and /v1/history of the node at endpoint: an
// http:// or https:// URL is a Proxy, anything else a state directory.
// The node's times come on the collector's clock (NodeReport.ClockOffset).
func Fetch(ctx context.Context, endpoint string) (*NodeReport, error) {
	ctx, cancel := context.WithTimeout(ctx, CollectTimeout)
	defer cancel()
	r, err := read(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	r.alignClock()
	return r, nil
}

// read is Fetch before the node's times are moved.
func read(ctx context.Context, endpoint string) (*NodeReport, error) {
	r := &NodeReport{Endpoint: endpoint}
	var err error
	if isURL(endpoint) {
		r.Status, r.ClockOffset, err = statusTimed(func() (*node.APIStatus, error) {
			st := &node.APIStatus{}
			_, err := getJSON(ctx, endpoint+node.APIStatusPath, st)
			return st, err
		})
		if err != nil {
			return nil, fmt.Errorf("reading status: %w", err)
		}
		code, err := getJSON(ctx, endpoint+node.APIHistoryPath, &r.History)
		if err != nil && code != http.StatusNotFound { // 404: no journal (not an agent)
			return nil, fmt.Errorf("reading history: %w", err)
		}
		return r, nil
	}
	err = withSocket(ctx, endpoint, func(c *node.APIClient) error {
		var err error
		r.Status, r.ClockOffset, err = statusTimed(func() (*node.APIStatus, error) { return c.Status(ctx) })
		if err != nil {
			return fmt.Errorf("reading status: %w", err)
		}
		r.History, err = c.History(ctx)
		var apiErr *node.APIError
		if errors.As(err, &apiErr) && apiErr.Code == node.APICodeNoJournal {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading history: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// FetchStatus reads only /v1/status of the node at endpoint, as Fetch
// does: what a wait polls.
func FetchStatus(ctx context.Context, endpoint string) (*node.APIStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, CollectTimeout)
	defer cancel()
	st := &node.APIStatus{}
	if isURL(endpoint) {
		if _, err := getJSON(ctx, endpoint+node.APIStatusPath, st); err != nil {
			return nil, fmt.Errorf("reading status: %w", err)
		}
		return st, nil
	}
	err := withSocket(ctx, endpoint, func(c *node.APIClient) error {
		var err error
		if st, err = c.Status(ctx); err != nil {
			return fmt.Errorf("reading status: %w", err)
		}
		return nil
	})
	return st, err
}

// withSocket runs fn with a client of the node whose state directory is
// state, dialled once.
func withSocket(ctx context.Context, state string, fn func(*node.APIClient) error) error {
	c, err := node.DialAPI(ctx, state)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// isURL tells a Proxy's URL from a state directory.
func isURL(endpoint string) bool {
	return strings.HasPrefix(endpoint, "http://") || strings.HasPrefix(endpoint, "https://")
}

// getJSON decodes the JSON answer of GET u into v, at most
// MaxCollectBody bytes; an error answer is an error with its message.
func getJSON(ctx context.Context, u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxCollectBody+1))
	switch {
	case err != nil:
		return resp.StatusCode, fmt.Errorf("reading %s: %w", u, err)
	case len(body) > MaxCollectBody:
		return resp.StatusCode, fmt.Errorf("%s: answer longer than %d bytes", u, MaxCollectBody)
	case resp.StatusCode != http.StatusOK:
		var e node.APIError
		json.Unmarshal(body, &e)
		return resp.StatusCode, fmt.Errorf("%s: %s: %s", u, resp.Status, e.Message)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.StatusCode, fmt.Errorf("decoding %s: %w", u, err)
	}
	return resp.StatusCode, nil
}

// CollectOptions say what collect measures.
type CollectOptions struct {
	// Scenario is the scenario the rendered zone played (Spec.Scenario):
	// it names the report and adds that scenario's checks. "" is
	// propagation.
	Scenario string
	// UpdateID is the update whose propagation is measured.
	UpdateID string
	// Late are the endpoints of the late-join scenario's late agents:
	// late_joiners_caught_up checks that each installed.
	Late []string
	// Restarted are the endpoints of the churn scenario's agents that were
	// killed and started again: restarted_caught_up checks that each
	// installed, survivors_* the other agents read. Agents left down are
	// not read (and not in Agents).
	Restarted []string
	// FloodTargets are the endpoints of the agents the flood scenario's
	// peers connected to: each must have graylisted both.
	FloodTargets []string
	// Cut are the endpoints of the partition scenario's cut agents: each
	// must have raised its heartbeat alarm, heard nothing of the update
	// until the cut healed, and installed it after.
	Cut []string
	// RevokedPeer is the revocation scenario's revoked supernode (its
	// peer ID, which render prints): no agent may count its co-signature.
	RevokedPeer string
	// Published is when it was published; zero takes the earliest event
	// about it on any node read (a supernode's co-signature, which comes
	// after the publication by one round trip and the vendor fetch).
	Published time.Time
	// ArtifactSHA256 is the SHA-256 (hex) of the update's artifact as
	// published: an agent that installed another artifact under its id is
	// a wrong install. Empty: any artifact of UpdateID (an install of any
	// other update still is one).
	ArtifactSHA256 string
	// Origin is the URL prefix of the rendered zone's vendor origin
	// (Spec.OriginURL): what it served (OriginServedPath) counts as
	// origin egress. Empty: not read (the report's origin egress is the
	// publishers' alone). The content scenario needs it.
	Origin string
	// BaselineWait is how long to wait for the origin's HTTP baseline
	// (baseline.go) to finish before the nodes are read: it starts once
	// every agent installed, so the nodes are read after that too. 0:
	// the baseline is not read. Past it the baseline's results so far
	// are reported. The raw gossipsub baseline (rawbaseline.go), which
	// starts once the HTTP one is done, gets as long again.
	BaselineWait time.Duration
	// BaselineProgress, if set, is told what the origin says of the
	// baseline at each look while collect waits for it.
	BaselineProgress func(BaselineState)
	// RawProgress, if set, is told what the origin says of the raw
	// gossipsub baseline while collect waits for it.
	RawProgress func(RawState)
	// ArtifactBytes is the size of the update's artifact as published,
	// for the report (render prints it); the content scenario's bound on
	// origin egress is in copies of it.
	ArtifactBytes int64
	// Threshold is the zone's k, for the report.
	Threshold int
	// Shaping is what render shaped the pods' links with, for the report
	// (its bandwidth is the nodes'; the origin's is the table's own
	// business).
	Shaping Shaping
	// RolloutSpread is the fix's rollout spread as rendered, for the
	// report (installs come up to this long after acceptance).
	RolloutSpread time.Duration
	// Agents is how many agents the zone has; those that did not answer
	// count as not reached. 0: the agents that answered plus every
	// endpoint that did not.
	Agents int
	// Progress, if set, is told of each node read ("collected").
	Progress testnet.Progress
	// OnError, if set, is told of each node that could not be read; it
	// is left out of the samples and check all_nodes_answered fails.
	OnError func(endpoint string, err error)
}

// Collect reads every endpoint (CollectParallel at a time) and builds the
// run's report: one Sample per agent, with receipt, acceptance and
// install times from publication, out of its lifecycle events and install
// journal, and the counters of FillCounters (egress, duplicates, memory,
// CPU). The times are the nodes' clocks: keep them in sync (NTP) across
// machines.
func Collect(ctx context.Context, endpoints []string, o CollectOptions) (*testnet.Report, error) {
	switch {
	case len(endpoints) == 0:
		return nil, errors.New("collecting: no endpoints")
	case len(endpoints) > MaxCollectEndpoints:
		return nil, fmt.Errorf("collecting: %d endpoints, at most %d", len(endpoints), MaxCollectEndpoints)
	case o.UpdateID == "":
		return nil, errors.New("collecting: no update id")
	case o.Scenario != "" && !slices.Contains(Scenarios, o.Scenario):
		return nil, fmt.Errorf("collecting: scenario %q: the manifests play %s", o.Scenario, strings.Join(Scenarios, ", "))
	case o.Scenario == testnet.ScenarioRevocation && o.RevokedPeer == "":
		return nil, errors.New("collecting: scenario revocation: no revoked supernode's peer id (render prints it)")
	case o.Scenario == testnet.ScenarioContent && (o.Origin == "" || o.ArtifactBytes < 1):
		return nil, errors.New("collecting: scenario content: needs the vendor origin's URL and the artifact's size (render prints it)")
	}
	origin := originEgress{}
	if o.Origin != "" && o.BaselineWait > 0 {
		origin.baseline = o.waitBaseline(ctx)
		origin.raw = o.waitRaw(ctx)
	}
	reports, failed := fetchAll(ctx, endpoints, o)
	if len(reports) == 0 {
		return nil, fmt.Errorf("collecting: none of %d nodes answered", len(endpoints))
	}
	if o.Origin != "" {
		origin.served, origin.err = FetchOriginServed(ctx, o.Origin)
		if origin.err != nil && o.OnError != nil {
			o.OnError(o.Origin, origin.err)
		}
	}
	return buildReport(reports, failed, origin, o), nil
}

// readCut adds the cut stamps of a partition's cut agent read through a
// Proxy (a state directory has none) to r: when it healed. When they
// cannot be read it says why; the agent's heal is then its alarm's
// clearing.
func (o CollectOptions) readCut(ctx context.Context, r *NodeReport) error {
	if o.Scenario != testnet.ScenarioPartition || !isURL(r.Endpoint) || !slices.Contains(o.Cut, r.Endpoint) {
		return nil
	}
	c, err := FetchCut(ctx, r.Endpoint)
	if err == nil {
		c = r.alignCut(c)
		r.Cut = &c
	}
	return err
}

// waitBaseline waits up to BaselineWait for the origin's HTTP baseline
// and returns what it has then; what kept it is told OnError.
func (o CollectOptions) waitBaseline(ctx context.Context) BaselineState {
	ctx, cancel := context.WithTimeout(ctx, o.BaselineWait)
	defer cancel()
	s, err := WaitBaseline(ctx, o.Origin, o.BaselineProgress)
	if err != nil && o.OnError != nil {
		o.OnError(o.Origin, err)
	}
	return s
}

// waitRaw waits up to BaselineWait for the origin's raw gossipsub
// baseline (it starts once the HTTP one is done) and returns what it has
// then; what kept it or failed it is told OnError.
func (o CollectOptions) waitRaw(ctx context.Context) RawState {
	ctx, cancel := context.WithTimeout(ctx, o.BaselineWait)
	defer cancel()
	s, err := WaitRaw(ctx, o.Origin, o.RawProgress)
	if err != nil && o.OnError != nil {
		o.OnError(o.Origin, err)
	}
	return s
}

// originEgress is what the vendor origin said it served, or why it said
// nothing, and its baselines.
type originEgress struct {
	served   int64
	err      error
	baseline BaselineState
	raw      RawState
}

// fetchAll reads the endpoints, in their order, and counts the failures.
func fetchAll(ctx context.Context, endpoints []string, o CollectOptions) ([]*NodeReport, int) {
	out := make([]*NodeReport, len(endpoints))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, CollectParallel)
	done, failed := 0, 0
	for i, ep := range endpoints {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := Fetch(ctx, ep)
			var cutErr error
			if err == nil {
				cutErr = o.readCut(ctx, r)
			}
			mu.Lock()
			defer mu.Unlock()
			done++
			if err != nil {
				failed++
			}
			if err = cmp.Or(err, cutErr); err != nil && o.OnError != nil {
				o.OnError(ep, err)
			}
			out[i] = r
			if o.Progress != nil {
				o.Progress("collected", done, len(endpoints))
			}
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(r *NodeReport) bool { return r == nil }), failed
}

// buildReport turns the nodes' answers into the report.
func buildReport(reports []*NodeReport, failed int, origin originEgress, o CollectOptions) *testnet.Report {
	firsts := earliestEvents(reports, o.updateOf)
	publishedOf := func(st *node.APIStatus) time.Time { // each zone's own publication (private-zone has two)
		if !o.Published.IsZero() {
			return o.Published
		}
		return firsts[o.updateOf(st)]
	}
	rep := &testnet.Report{Scenario: cmp.Or(o.Scenario, testnet.ScenarioPropagation), Mode: testnet.ModeK8s, Threshold: o.Threshold,
		RolloutSpreadS: o.RolloutSpread.Seconds(), ArtifactBytes: o.ArtifactBytes, OriginEgressBytes: origin.served,
		LatencyMS: float64(o.Shaping.Latency) / float64(time.Millisecond), JitterMS: float64(o.Shaping.Jitter) / float64(time.Millisecond), Loss: o.Shaping.Loss, BandwidthBPS: o.Shaping.Bandwidth,
		Results: map[string]testnet.Result{}, Stages: map[string]testnet.Result{}, Checks: map[string]bool{}}
	var receipt, accept, inst []time.Duration
	for _, r := range reports {
		rep.ClockOffsetMaxMS = max(rep.ClockOffsetMaxMS, float64(r.ClockOffset.Abs())/float64(time.Millisecond))
		role := nodeRole(r.Status)
		switch role {
		case trust.RoleSupernode:
			rep.Supernodes++
			continue
		case trust.RoleAgent:
		default:
			continue
		}
		s := sampleOf(r, o.updateOf(r.Status), publishedOf(r.Status))
		rep.Samples = append(rep.Samples, s)
		if tx := testnet.WrongInstall(r.History, o.releases(r.Status)); tx != nil {
			rep.MarkWrong(s.Node, testnet.DescribeInstall(tx))
		}
		for _, st := range []struct {
			d   time.Duration
			out *[]time.Duration
		}{{s.Receipt, &receipt}, {s.Accept, &accept}, {s.Install, &inst}} {
			if st.d > 0 {
				*st.out = append(*st.out, st.d)
			}
		}
	}
	rep.Nodes = len(rep.Samples) + failed // an endpoint that did not answer counts as an agent not reached
	if o.Agents > 0 {
		rep.Nodes = o.Agents
	}
	rep.Results[testnet.ResultPatchnet] = testnet.Summarize(inst, rep.Nodes)
	rep.Stages["receipt"] = testnet.Summarize(receipt, rep.Nodes)
	rep.Stages["accept"] = testnet.Summarize(accept, rep.Nodes)
	rep.Stages["install"] = testnet.Summarize(inst, rep.Nodes)
	if b := origin.baseline; b.Expected > 0 {
		rep.Results[testnet.ResultHTTPOrigin], rep.HTTPOriginEgressBytes = b.Result(rep.Nodes), b.ServedBytes
	}
	if r := origin.raw; r.Outcome != nil {
		r.Outcome.Fill(rep, r.Agents)
	}
	rep.Checks["all_nodes_answered"] = failed == 0 && origin.err == nil
	rep.Checks["all_agents_installed"] = len(inst) == rep.Nodes
	rep.Checks[testnet.CheckNoWrongInstalls] = rep.WrongInstalls == 0
	fillCounters(rep, reports, o.updateOf)
	scenarioChecks(rep, reports, origin, o)
	return rep
}

// releases are what an agent of the rendered zone may install: its
// zone's update, and the old package its pod was prepared with.
func (o CollectOptions) releases(st *node.APIStatus) []testnet.Release {
	return []testnet.Release{{ID: o.updateOf(st), SHA256: o.ArtifactSHA256}, {ID: nodelab.BaseInstall}}
}

// updateOf is the update the node's zone published: UpdateID, or in the
// private-zone scenario PrivateUpdateID of it in the private zone.
func (o CollectOptions) updateOf(st *node.APIStatus) string {
	if o.Scenario == testnet.ScenarioPrivateZone && st.Zone.Name == PrivateZone {
		return PrivateUpdateID(o.UpdateID)
	}
	return o.UpdateID
}

// nodeRole is the node's role as its status says it ("" when unknown).
func nodeRole(st *node.APIStatus) trust.Role {
	for _, want := range []trust.Role{trust.RoleSupernode, trust.RoleAgent, trust.RolePublisher} {
		if slices.Contains(st.Roles, string(want)) {
			return want
		}
	}
	return ""
}

// earliestEvents are, per update, the time of the first event about it
// on any node whose zone published it (idOf): each zone's publication
// as its nodes saw it first.
func earliestEvents(reports []*NodeReport, idOf func(*node.APIStatus) string) map[string]time.Time {
	first := map[string]time.Time{}
	for _, r := range reports {
		id := idOf(r.Status)
		for _, e := range r.Status.Events {
			if t, ok := first[id]; e.ID == id && (!ok || e.At.Before(t)) {
				first[id] = e.At
			}
		}
	}
	return first
}

// sampleOf is the agent's sample: receipt is its first event about id
// (when its message arrived, for pending and accepted events),
// acceptance its accepted event, install its installed event or, when
// that fell out of the recent events, the commit of the install
// transaction in its journal.
func sampleOf(r *NodeReport, id string, published time.Time) testnet.Sample {
	s := testnet.Sample{Node: nodeName(r.Endpoint), Role: string(trust.RoleAgent)}
	since := func(t time.Time) time.Duration {
		if t.IsZero() || published.IsZero() {
			return 0
		}
		return max(t.Sub(published), time.Nanosecond) // happened: never the zero "did not happen"
	}
	var receipt, accepted time.Time
	for _, e := range r.Status.Events {
		if e.ID != id {
			continue
		}
		if receipt.IsZero() || e.Arrived().Before(receipt) {
			receipt = e.Arrived()
		}
		if e.Kind == node.EventAccepted {
			accepted = e.At
		}
	}
	s.Receipt, s.Accept, s.Install = since(receipt), since(accepted), since(installedAt(r, id))
	return s
}

// AnnouncementBytes is the size of id's announcement (its latest
// version) as st's node accepted it, co-signatures merged; 0 if unknown.
func AnnouncementBytes(st *node.APIStatus, id string) int64 {
	var n int64
	var v uint64
	for _, u := range st.Updates {
		if u.ID == id && u.Version >= v {
			n, v = u.AnnouncementBytes, u.Version
		}
	}
	return n
}

// installedAt is when the node installed id: its installed event or, when
// that fell out of the recent events, the commit of the install
// transaction in its journal; zero if it did not.
func installedAt(r *NodeReport, id string) time.Time {
	for _, e := range slices.Backward(r.Status.Events) {
		if e.ID == id && e.Kind == node.EventInstalled {
			return e.At
		}
	}
	return committedAt(r.History, id)
}

// committedAt is when the committed install transaction of id ended.
func committedAt(txs []*install.Transaction, id string) time.Time {
	for _, tx := range txs {
		if tx.Kind == install.KindInstall && tx.State == install.StateCommitted && tx.Plan.AnnouncementID == id && len(tx.Steps) > 0 {
			return tx.Steps[len(tx.Steps)-1].At
		}
	}
	return time.Time{}
}

// nodeName names a node by its endpoint: the pod (the URL's first DNS
// label), the address and port of a URL by IP (port-forwards to several
// pods differ in their ports alone), or the state directory's parent.
func nodeName(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		if net.ParseIP(u.Hostname()) != nil {
			return u.Host
		}
		host, _, _ := strings.Cut(u.Hostname(), ".")
		return host
	}
	dir := filepath.Clean(endpoint)
	if filepath.Base(dir) == "state" {
		dir = filepath.Dir(dir)
	}
	return filepath.Base(dir)
}

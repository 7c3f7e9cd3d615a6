package k8s

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// A lab zone of real nodes on loopback publishes a fix; collect reads
// every node, one agent through the Proxy over TCP and the rest over
// their unix sockets, and the report has every agent's sample with its
// stages in order, the supernodes counted, and a node that is not there
// named and counted as not reached.
func TestCollectFromRunningNodes(t *testing.T) {
	fake := false
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			fake = true // the recording installer: the events are the same
		}
	}
	ctx := context.Background()
	const id = "TESTNET-K8S-0001"
	l, fix, published := publishedLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2, FakeInstaller: fake}, id)
	var err error
	state := func(m *nodelab.Member) string { return filepath.Join(m.Dir, "state") }
	proxy := httptest.NewUnstartedServer(Proxy(state(l.Agents[0]), ProxyOptions{}))
	proxy.Listener.Close()
	if proxy.Listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	proxy.Start()
	defer proxy.Close()

	missing := filepath.Join(t.TempDir(), "gone", "state")
	endpoints := []string{proxy.URL, state(l.Agents[1]), state(l.Supernodes[0]), state(l.Supernodes[1]), missing}
	var failed []string
	opts := CollectOptions{UpdateID: id, ArtifactSHA256: fix.Patchnet.Artifact.SHA256.String(), Published: published, Threshold: 2, Agents: 3,
		RolloutSpread: time.Minute, OnError: func(ep string, err error) { failed = append(failed, ep) }}
	rep, err := Collect(ctx, endpoints, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{missing}, failed); d != "" {
		t.Errorf("endpoints reported failed (-want +got):\n%s", d)
	}
	if rep.Nodes != 3 || rep.Supernodes != 2 || len(rep.Samples) != 2 || rep.Mode != testnet.ModeK8s || rep.RolloutSpreadS != 60 {
		t.Fatalf("report counts nodes %d, supernodes %d, samples %d, mode %s, spread %v s; want 3, 2, 2, k8s, 60",
			rep.Nodes, rep.Supernodes, len(rep.Samples), rep.Mode, rep.RolloutSpreadS)
	}
	for i, want := range []string{strings.TrimPrefix(proxy.URL, "http://"), l.Agents[1].Name} { // a proxy by IP: its address and port
		s := rep.Samples[i]
		if s.Node != want || s.Role != "agent" {
			t.Errorf("sample %d is %s (%s), want %s (agent)", i, s.Node, s.Role, want)
		}
		if !(0 < s.Receipt && s.Receipt <= s.Accept && s.Accept <= s.Install) {
			t.Errorf("%s: receipt %v, accept %v, install %v: want 0 < receipt ≤ accept ≤ install", s.Node, s.Receipt, s.Accept, s.Install)
		}
	}
	if r := rep.Results[testnet.ResultPatchnet]; r.Delivered != 2.0/3 || r.MaxMS <= 0 {
		t.Errorf("patchnet result %+v: want 2 of 3 delivered", r)
	}
	for _, s := range rep.Samples {
		if got := s.FromPeers + s.FromOrigin; got != l.ArtifactSize() {
			t.Errorf("%s fetched %d bytes (peers %d, origin %d), want the artifact's %d", s.Node, got, s.FromPeers, s.FromOrigin, l.ArtifactSize())
		}
		if want := fmt.Sprintf("%d bytes from ", l.ArtifactSize()); !strings.HasPrefix(s.Fetch, want) {
			t.Errorf("%s's fetch %q, want its fetched event's detail (%q…)", s.Node, s.Fetch, want)
		}
		if s.FetchTime <= 0 || s.FetchTime > s.Install {
			t.Errorf("%s's fetch took %v, installed at %v: want its fetched event's took_ms, within the install", s.Node, s.FetchTime, s.Install)
		}
	}
	if f, ok := rep.Stages["fetch"]; !ok || f.Delivered != 2.0/3 || f.MaxMS <= 0 {
		t.Errorf("fetch stage %+v (present %v): want the 2 answering agents' fetch times of 3", f, ok)
	}
	for _, name := range []string{"receipt", "accept", "install"} {
		if r := rep.Stages[name]; r.Delivered != 2.0/3 {
			t.Errorf("stage %q %+v: want 2 of 3 delivered, named as sim and netns name it", name, r)
		}
	}
	// The announcement's size, as the agents accepted it (the raw
	// baseline's rounds carry as much).
	var sizes []int64
	for _, ep := range endpoints[:2] {
		st, err := FetchStatus(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, AnnouncementBytes(st, id))
	}
	if rep.AnnouncementBytes <= 0 || !slices.Contains(sizes, rep.AnnouncementBytes) {
		t.Errorf("announcement %d bytes, want one of the agents' %v", rep.AnnouncementBytes, sizes)
	}
	if rep.MemoryPerNodeBytes <= 0 || rep.CPUSeconds <= 0 {
		t.Errorf("memory per node %d, CPU %v s: want both read from the nodes", rep.MemoryPerNodeBytes, rep.CPUSeconds)
	}
	if rep.Checks["all_nodes_answered"] || rep.Checks["all_agents_installed"] {
		t.Errorf("checks %v: the missing node must fail both", rep.Checks)
	}
	if !rep.Checks[testnet.CheckNoWrongInstalls] || rep.WrongInstalls != 0 {
		t.Errorf("wrong installs %d, check %v: the agents installed the published fix", rep.WrongInstalls, rep.Checks[testnet.CheckNoWrongInstalls])
	}
	// wait (late-join's init container) returns once every node shows the
	// event, and names the ones that do not when it gives up.
	if err := WaitForEvent(ctx, []string{proxy.URL, state(l.Agents[1])}, id, node.EventInstalled, 10*time.Millisecond, nil); err != nil {
		t.Errorf("waiting for the installs: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = WaitForEvent(short, []string{state(l.Agents[1]), missing}, id, node.EventInstalled, 10*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "not yet on "+missing) {
		t.Errorf("waiting on a node that is not there: %v, want it named", err)
	}
	if fake {
		return // the recording installer keeps no journal to audit
	}
	// Told another artifact was published, collect finds both agents'
	// journals holding a wrong install.
	opts.ArtifactSHA256 = strings.Repeat("0", 64)
	rep, err = Collect(ctx, endpoints, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checks[testnet.CheckNoWrongInstalls] || rep.WrongInstalls != 2 || !strings.Contains(rep.Samples[1].WrongInstall, "installed "+id+" version 1") {
		t.Errorf("wrong installs %d, check %v, %s's %q: want 2, false, its install of %s", rep.WrongInstalls,
			rep.Checks[testnet.CheckNoWrongInstalls], rep.Samples[1].Node, rep.Samples[1].WrongInstall, id)
	}
}

// publishedLab is a lab zone of o's nodes on loopback that published fix
// id, every agent done with it (installed or failed); published is
// when the publisher began.
func publishedLab(t *testing.T, o nodelab.Options, id string) (*nodelab.Lab, *updates.Announcement, time.Time) {
	t.Helper()
	ctx := context.Background()
	o.Dir = t.TempDir()
	l, err := nodelab.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	fix, err := l.Fix(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	published := time.Now()
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	for _, a := range l.Agents {
		waitFor(t, a.Name+" to install", func() bool {
			s := a.Status()
			return s.Has(node.EventInstalled) || s.Has(node.EventFailed)
		})
	}
	return l, fix, published
}

// The proxy passes on only the read-only calls: a rollback through it is
// refused by the proxy itself, and a node that is not running is a 503.
func TestProxyIsReadOnly(t *testing.T) {
	srv := httptest.NewServer(Proxy(filepath.Join(t.TempDir(), "state"), ProxyOptions{}))
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, node.APIRollbackPath, http.StatusNotFound},
		{http.MethodPost, node.APIStatusPath, http.StatusMethodNotAllowed},
		{http.MethodGet, node.APIStatusPath, http.StatusServiceUnavailable},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(`{"tx":"x"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %s, want %d", c.method, c.path, resp.Status, c.want)
		}
	}
}

// A sample's install time falls back to the journal's committed
// transaction when the installed event is no longer among the recent
// events; stages that did not happen stay zero.
func TestSampleOf(t *testing.T) {
	pub := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return pub.Add(time.Duration(s) * time.Second) }
	ev := func(kind node.EventKind, s int) node.APIEvent { return node.APIEvent{Kind: kind, At: at(s), ID: "U"} }
	tx := &install.Transaction{Kind: install.KindInstall, State: install.StateCommitted,
		Plan: install.Plan{AnnouncementID: "U"}, Steps: []install.Step{{At: at(4)}, {At: at(5)}}}
	for _, c := range []struct {
		name   string
		events []node.APIEvent
		txs    []*install.Transaction
		want   [3]int
	}{
		{"events", []node.APIEvent{ev(node.EventPending, 1), ev(node.EventAccepted, 2), ev(node.EventInstalled, 3)}, nil, [3]int{1, 2, 3}},
		{"journal", []node.APIEvent{ev(node.EventAccepted, 2)}, []*install.Transaction{tx}, [3]int{2, 2, 5}},
		{"pending", []node.APIEvent{ev(node.EventPending, 1), {Kind: node.EventInstalled, At: at(9), ID: "other"}}, nil, [3]int{1, 0, 0}},
		{"received before its checks", []node.APIEvent{{Kind: node.EventAccepted, At: at(4), Received: at(1), ID: "U"}, ev(node.EventInstalled, 6)}, nil, [3]int{1, 4, 6}},
	} {
		s := sampleOf(&NodeReport{Endpoint: "/x/a1/state", Status: &node.APIStatus{Events: c.events}, History: c.txs}, "U", pub)
		got := [3]int{int(s.Receipt / time.Second), int(s.Accept / time.Second), int(s.Install / time.Second)}
		if got != c.want || s.Node != "a1" {
			t.Errorf("%s: %s %v, want a1 %v", c.name, s.Node, got, c.want)
		}
	}
}

// FillCounters sums what the nodes served by role (publishers' bytes are
// the origin's), averages their memory, adds up their CPU, divides the
// duplicates by the messages delivered over every node, and gives each
// agent's sample its bytes — a fetch served by the publisher alone
// counting as the origin's.
func TestFillCounters(t *testing.T) {
	fetched := func(from string, peers, vendor int64) node.APIEvent {
		return node.APIEvent{Kind: node.EventFetched, ID: "U", From: []string{from},
			SourceBytes: map[string]int64{"peers": peers, "vendor": vendor}}
	}
	status := func(id, role string, served, rss int64, dup, delivered uint64, events ...node.APIEvent) *node.APIStatus {
		return &node.APIStatus{ID: id, Roles: []string{role}, Content: node.APIContent{ServedBytes: served},
			Process: node.APIProcess{PeakRSSBytes: rss, CPUSeconds: 1.5}, Overlay: map[string]uint64{"duplicates": dup, "delivered": delivered},
			Events: events}
	}
	reports := []*NodeReport{
		{Endpoint: "/z/pub/state", Status: status("P", "publisher", 300, 10, 0, 1)},
		{Endpoint: "/z/sn1/state", Status: status("S", "supernode", 700, 20, 2, 3)},
		{Endpoint: "/z/a1/state", Status: status("A1", "agent", 100, 30, 1, 2, fetched("P", 500, 0))},
		{Endpoint: "/z/a2/state", Status: status("A2", "agent", 0, 40, 3, 2, fetched("S", 400, 100),
			node.APIEvent{Kind: node.EventFetched, ID: "other", SourceBytes: map[string]int64{"peers": 9}})},
	}
	rep := &testnet.Report{Samples: []testnet.Sample{{Node: "a1"}, {Node: "a2"}}}
	FillCounters(rep, reports, "U")
	want := &testnet.Report{OriginEgressBytes: 300, PeerEgressBytes: 800, DuplicatesPerMessage: 6.0 / 8,
		MemoryPerNodeBytes: 25, CPUSeconds: 6, Samples: []testnet.Sample{
			{Node: "a1", Served: 100, FromOrigin: 500},
			{Node: "a2", FromPeers: 400, FromOrigin: 100},
		}}
	if d := cmp.Diff(want, rep); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The stolen-key checks read each node's events about the thief's
// update: a supernode that did not refuse it, one that co-signed it, or
// an agent that accepted it fails the check naming that.
func TestStolenChecks(t *testing.T) {
	ev := func(kind node.EventKind) node.APIEvent { return node.APIEvent{Kind: kind, ID: StolenUpdateID} }
	nodeOf := func(role string, events ...node.APIEvent) *NodeReport {
		return &NodeReport{Status: &node.APIStatus{Roles: []string{role}, Events: events}}
	}
	held := []*NodeReport{nodeOf("supernode", ev(node.EventRefused)), nodeOf("supernode", ev(node.EventRefused)), nodeOf("agent")}
	for _, tc := range []struct {
		name    string
		reports []*NodeReport
		failed  string // the check that fails; "" none
	}{
		{"the zone held", held, ""},
		{"a supernode said nothing", []*NodeReport{held[0], nodeOf("supernode"), held[2]}, "supernodes_refused"},
		{"a supernode co-signed", []*NodeReport{held[0], nodeOf("supernode", ev(node.EventRefused), ev(node.EventCoSigned)), held[2]}, "none_cosigned"},
		{"an agent accepted", []*NodeReport{held[0], held[1], nodeOf("agent", ev(node.EventAccepted))}, "no_agent_accepted_stolen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &testnet.Report{Scenario: testnet.ScenarioStolenKey, Checks: map[string]bool{}, Supernodes: 2}
			stolenChecks(rep, tc.reports)
			var failed []string
			for name, ok := range rep.Checks {
				if !ok {
					failed = append(failed, name)
				}
			}
			want := []string{}
			if tc.failed != "" {
				want = append(want, tc.failed)
			}
			if d := cmp.Diff(want, append([]string{}, failed...)); d != "" || len(rep.Checks) != 3 {
				t.Errorf("failed checks (-want +got):\n%s(of %v)", d, rep.Checks)
			}
		})
	}
}

// The content checks judge the bytes served: the vendor origin's (as
// read) and the publisher's together at most each supernode's own fetch
// and one more copy, and the peers serving some; an origin that did not
// answer fails the bound and all_nodes_answered, and Collect refuses
// the scenario without the origin or the artifact's size.
func TestContentChecks(t *testing.T) {
	const size = 1 << 20
	bound := testnet.OriginEgressBound(2, size)
	status := func(role string, served int64) *NodeReport {
		return &NodeReport{Endpoint: "/z/" + role + "/state", Status: &node.APIStatus{Roles: []string{role}, Content: node.APIContent{ServedBytes: served}}}
	}
	for _, tc := range []struct {
		name           string
		origin         originEgress
		publisher, sns int64
		failed         []string
	}{
		{"shared", originEgress{served: 2 * size}, size, size, nil},
		{"at the bound", originEgress{served: bound - size}, size, 1, nil},
		{"the origin served one more copy", originEgress{served: 3 * size}, size, size, []string{"origin_egress_within_bound"}},
		{"the publisher served two", originEgress{served: 2 * size}, 2 * size, size, []string{"origin_egress_within_bound"}},
		{"no peer served", originEgress{served: 2 * size}, size, 0, []string{"peers_served"}},
		{"the origin did not answer", originEgress{err: errors.New("refused")}, 0, size, []string{"all_nodes_answered", "origin_egress_within_bound"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reports := []*NodeReport{status("publisher", tc.publisher), status("supernode", tc.sns), status("supernode", 0)}
			rep := buildReport(reports, 0, tc.origin, CollectOptions{Scenario: testnet.ScenarioContent, UpdateID: "U", ArtifactBytes: size, Agents: 1})
			var failed []string
			for _, name := range []string{"all_nodes_answered", "origin_egress_within_bound", "peers_served"} {
				if !rep.Checks[name] {
					failed = append(failed, name)
				}
			}
			if d := cmp.Diff(tc.failed, failed); d != "" {
				t.Errorf("failed checks (-want +got):\n%s(egress %d origin, %d peers)", d, rep.OriginEgressBytes, rep.PeerEgressBytes)
			}
			if rep.ArtifactBytes != size {
				t.Errorf("artifact bytes %d", rep.ArtifactBytes)
			}
		})
	}
	for _, o := range []CollectOptions{{ArtifactBytes: size}, {Origin: "http://127.0.0.1:1/"}} {
		o.Scenario, o.UpdateID = testnet.ScenarioContent, "U"
		if _, err := Collect(t.Context(), []string{"/none"}, o); err == nil || !strings.Contains(err.Error(), "scenario content") {
			t.Errorf("Collect(%+v): %v", o, err)
		}
	}
}

// A sample is named for its pod, or for the address and port of a
// port-forward (several on 127.0.0.1 differ in their ports alone), or
// for its state directory's parent.
func TestNodeName(t *testing.T) {
	for endpoint, want := range map[string]string{
		"http://agent-3-0.agents.tn.svc.cluster.local:9090": "agent-3-0",
		"http://127.0.0.1:9090":                             "127.0.0.1:9090",
		"http://127.0.0.1:9091":                             "127.0.0.1:9091",
		"http://[::1]:9090":                                 "[::1]:9090",
		"/var/lib/patchnet/a1/state":                        "a1",
		"/var/lib/patchnet/a2":                              "a2",
	} {
		if got := nodeName(endpoint); got != want {
			t.Errorf("nodeName(%q) = %q, want %q", endpoint, got, want)
		}
	}
}

// The private-zone checks read each node's zone from its status: an
// agent that did not install its own zone's update, a node that heard of
// the other zone's, or one connected to a node of the other zone fails
// the check naming that.
func TestPrivateZoneChecks(t *testing.T) {
	const pubID = "U"
	privID := PrivateUpdateID(pubID)
	nodeOf := func(id, zone, role string, peers []string, events ...node.APIEvent) *NodeReport {
		st := &node.APIStatus{ID: id, Zone: node.APIZone{Name: zone}, Roles: []string{role}, Events: events}
		for _, p := range peers {
			st.Peers = append(st.Peers, node.APIPeer{ID: p})
		}
		return &NodeReport{Endpoint: "/z/" + id + "/state", Status: st}
	}
	installed := func(id string) node.APIEvent { return node.APIEvent{Kind: node.EventInstalled, ID: id, At: time.Now()} }
	held := []*NodeReport{
		nodeOf("S1", "testnet", "supernode", []string{"A1"}),
		nodeOf("A1", "testnet", "agent", []string{"S1"}, installed(pubID)),
		nodeOf("S2", PrivateZone, "supernode", []string{"A2"}),
		nodeOf("A2", PrivateZone, "agent", []string{"S2"}, installed(privID)),
	}
	with := func(i int, r *NodeReport) []*NodeReport {
		out := slices.Clone(held)
		out[i] = r
		return out
	}
	for _, tc := range []struct {
		name    string
		reports []*NodeReport
		failed  []string
	}{
		{"the zones held apart", held, nil},
		{"a public agent did not install", with(1, nodeOf("A1", "testnet", "agent", []string{"S1"})), []string{"public_installed"}},
		{"a private agent installed the public fix", with(3, nodeOf("A2", PrivateZone, "agent", []string{"S2"}, installed(pubID))),
			[]string{"private_installed", "private_never_saw_public"}},
		{"a public supernode heard the private fix", with(0, nodeOf("S1", "testnet", "supernode", []string{"A1"}, node.APIEvent{Kind: node.EventRefused, ID: privID})),
			[]string{"public_never_saw_private"}},
		{"a public agent connected to a private supernode", with(1, nodeOf("A1", "testnet", "agent", []string{"S1", "S2"}, installed(pubID))),
			[]string{"no_peer_across_zones"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &testnet.Report{Scenario: testnet.ScenarioPrivateZone, Checks: map[string]bool{}}
			privateZoneChecks(rep, tc.reports, CollectOptions{Scenario: testnet.ScenarioPrivateZone, UpdateID: pubID})
			var failed []string
			for _, name := range []string{"no_peer_across_zones", "private_installed", "private_never_saw_public", "public_installed", "public_never_saw_private"} {
				if ok, found := rep.Checks[name]; !found || !ok {
					failed = append(failed, name)
				}
			}
			if d := cmp.Diff(tc.failed, failed); d != "" {
				t.Errorf("failed checks (-want +got):\n%s", d)
			}
		})
	}
}

// The partition checks read each agent's events: a cut agent must have
// raised its heartbeat alarm, have no event of the update before the
// alarm cleared (the heal), and have installed it after; the connected
// side must have installed. Each failure fails the check naming it.
func TestPartitionChecks(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ev := func(kind node.EventKind, id string, s int) node.APIEvent {
		return node.APIEvent{Kind: kind, ID: id, At: at(s)}
	}
	stale, ok := ev(node.EventHeartbeatStale, "", 240), node.APIEvent{Kind: node.EventHeartbeatOK, Reason: "stale", At: at(600)}
	agent := func(name string, events ...node.APIEvent) *NodeReport {
		return &NodeReport{Endpoint: "/z/" + name + "/state", Status: &node.APIStatus{ID: name, Roles: []string{"agent"}, Events: events}}
	}
	connected := agent("a1", ev(node.EventAccepted, "U", 250), ev(node.EventInstalled, "U", 260))
	cut := agent("a2", stale, ok, ev(node.EventAccepted, "U", 610), ev(node.EventInstalled, "U", 620))
	// The cut healed at 600 s by its container's stamp; catch-up brought
	// the fix before the next heartbeats cleared the alarm (at 630 s).
	stamped := agent("a2", stale, ev(node.EventAccepted, "U", 605), ev(node.EventInstalled, "U", 620),
		node.APIEvent{Kind: node.EventHeartbeatOK, Reason: "stale", At: at(630)})
	stamped.Cut = &CutState{CutAt: at(10), HealedAt: at(600)}
	unstamped := *stamped
	unstamped.Cut = nil
	for _, tc := range []struct {
		name   string
		cut    *NodeReport
		failed []string
	}{
		{"held and healed", cut, nil},
		{"healed by the stamp, before the alarm cleared", stamped, nil},
		{"the same judged by the alarm alone", &unstamped, []string{"cut_side_waited"}},
		{"never alarmed", agent("a2", ok, ev(node.EventAccepted, "U", 610), ev(node.EventInstalled, "U", 620)),
			[]string{"cut_side_alarmed", "cut_side_waited"}},
		{"heard the fix through the cut", agent("a2", stale, ev(node.EventPending, "U", 300), ok, ev(node.EventInstalled, "U", 620)),
			[]string{"cut_side_waited"}},
		{"did not catch up", agent("a2", stale, ok), []string{"healed_caught_up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := CollectOptions{Scenario: testnet.ScenarioPartition, UpdateID: "U", Published: at(245), Cut: []string{"/z/a2/state"}, Agents: 2}
			rep := buildReport([]*NodeReport{connected, tc.cut}, 0, originEgress{}, o)
			var failed []string
			for _, name := range []string{"connected_side_installed", "cut_side_alarmed", "cut_side_waited", "healed_caught_up"} {
				if ok, found := rep.Checks[name]; !found || !ok {
					failed = append(failed, name)
				}
			}
			if d := cmp.Diff(tc.failed, failed); d != "" {
				t.Errorf("failed checks (-want +got):\n%s", d)
			}
			if tc.failed == nil && (rep.Stages["caught_up"].MaxMS != 20000 || rep.Stages["connected_side"].MaxMS != 5000) { // installed 20 s after the heal either way
				t.Errorf("stages %+v: want caught_up 20 s after the heal, connected_side 5 s after publication", rep.Stages)
			}
		})
	}
}

// A cut pod's proxy says when the cut was in place and healed, from the
// stamps its cut container wrote (zero for one not written yet); a
// proxy of a pod that is not cut has no such path.
func TestProxyServesCutStamps(t *testing.T) {
	dir := t.TempDir()
	ready, healed := filepath.Join(dir, "ready"), filepath.Join(dir, "healed")
	at := time.Date(2026, 12, 7, 10, 0, 0, 123, time.UTC)
	os.WriteFile(ready, []byte(at.Format(time.RFC3339Nano)+"\n"), 0o644)
	srv := httptest.NewServer(Proxy(filepath.Join(dir, "state"), ProxyOptions{CutReady: ready, CutHealed: healed}))
	defer srv.Close()
	got, err := FetchCut(t.Context(), srv.URL)
	if err != nil || !got.CutAt.Equal(at) || !got.HealedAt.IsZero() {
		t.Errorf("before the heal: %+v, %v; want cut at %v, not healed", got, err, at)
	}
	os.WriteFile(healed, []byte(at.Add(time.Minute).Format(time.RFC3339Nano)+"\n"), 0o644)
	if got, err := FetchCut(t.Context(), srv.URL); err != nil || !got.HealedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("after the heal: %+v, %v", got, err)
	}
	// collect reads them for the cut agents alone, in a partition.
	o := CollectOptions{Scenario: testnet.ScenarioPartition, Cut: []string{srv.URL}}
	cut, other := &NodeReport{Endpoint: srv.URL}, &NodeReport{Endpoint: srv.URL + "/"}
	if err := o.readCut(t.Context(), cut); err != nil || cut.Cut == nil || !cut.Cut.HealedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("collect read the cut agent's stamps as %+v, %v", cut.Cut, err)
	}
	if err := o.readCut(t.Context(), other); err != nil || other.Cut != nil {
		t.Errorf("collect read stamps of an agent not cut: %+v, %v", other.Cut, err)
	}
	plain := httptest.NewServer(Proxy(filepath.Join(dir, "state"), ProxyOptions{}))
	defer plain.Close()
	if _, err := FetchCut(t.Context(), plain.URL); err == nil {
		t.Error("a proxy of a pod not cut answered the cut's path")
	}
}

// Each zone's agents are timed from their own zone's publication: in
// private-zone the two publisher Jobs publish when each is scheduled (15 s
// apart on a one-node cluster, where the later zone's agents came out 15 s
// slow when timed from the first).
func TestPrivateZoneTimedFromItsOwnPublication(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	nodeOf := func(zone, id string, role string, events ...node.APIEvent) *NodeReport {
		return &NodeReport{Endpoint: "/z/" + id + "/state", Status: &node.APIStatus{ID: id, Zone: node.APIZone{Name: zone}, Roles: []string{role}, Events: events}}
	}
	pubID, privID := "U", PrivateUpdateID("U")
	ev := func(kind node.EventKind, id string, s float64) node.APIEvent {
		return node.APIEvent{Kind: kind, ID: id, At: t0.Add(time.Duration(s * float64(time.Second)))}
	}
	reports := []*NodeReport{
		nodeOf("testnet", "S1", "supernode", ev(node.EventCoSigned, pubID, 0)),
		nodeOf("testnet", "A1", "agent", ev(node.EventAccepted, pubID, 0.5), ev(node.EventInstalled, pubID, 1)),
		nodeOf(PrivateZone, "S2", "supernode", ev(node.EventCoSigned, privID, 15)),
		nodeOf(PrivateZone, "A2", "agent", ev(node.EventAccepted, privID, 15.5), ev(node.EventInstalled, privID, 16)),
	}
	rep := buildReport(reports, 0, originEgress{}, CollectOptions{Scenario: testnet.ScenarioPrivateZone, UpdateID: pubID, Agents: 2})
	if got := rep.Results[testnet.ResultPatchnet]; got.Delivered != 1 || got.MaxMS != 1000 {
		t.Errorf("patchnet %+v: want each agent 1 s after its own zone's publication", got)
	}
}

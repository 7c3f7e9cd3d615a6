package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/patchnet/patchnet/internal/freeport"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/k8s"
	"github.com/patchnet/patchnet/testnet/rawgossip"
)

// localCluster plays the rendered manifests on this host: each pod's
// containers run as patchnet processes, in order (init containers to
// completion), with the pod's paths under its own directory and the
// cluster's DNS names and ports mapped to 127.0.0.1 and free ports. It is
// no Kubernetes; it checks that the commands, flags, files and addresses
// the manifests give work together.
type localCluster struct {
	e       *e2e
	r       *rendered
	replace []string // old, new pairs applied to args and mounted files
}

// startFlooder points the flood Job's agent addresses at the running
// agents' own (read from their status), runs it and waits until it is
// ready; it returns the agents it floods.
func (c *localCluster) startFlooder(apis map[string]string) []string {
	t := c.e.t
	spec := c.r.flooder.Spec.Template.Spec
	var flooded []string
	for name, api := range apis {
		host := name + "-0.agents.tn.svc.cluster.local"
		if !strings.HasPrefix(name, "agent-") || !strings.Contains(strings.Join(spec.Containers[0].Args, " "), host) {
			continue
		}
		st, err := k8s.FetchStatus(t.Context(), api)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(st.Listen, func(a string) bool { return strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") })
		if i < 0 {
			t.Fatalf("%s listens on no loopback TCP address: %v", name, st.Listen)
		}
		addr, _, _ := strings.Cut(st.Listen[i], "/p2p/")
		c.replace = append(c.replace, "/dns4/"+host+"/tcp/4001", addr)
		flooded = append(flooded, name)
	}
	fl := c.pod("flooder", spec, 0, 0)[0]
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(fl.output(), "\nready") {
		if time.Now().After(deadline) {
			t.Fatalf("the flooder is not ready:\n%s", fl.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(flooded)
	return flooded
}

// waitCrashed waits until every churned agent's wrapper marked its crash.
func (c *localCluster) waitCrashed(names []string) {
	t := c.e.t
	deadline := time.Now().Add(90 * time.Second)
	for _, name := range names {
		if churnOf(c.r.sets[name]) == "" {
			continue
		}
		for {
			if _, err := os.Stat(c.e.path("pods", name, "var/lib/patchnet/state", crashMarker)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not crashed within 90 s", name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// wantChecks fails unless every named check is in the report and holds:
// a scenario that skipped one must not pass for it.
func wantChecks(t *testing.T, rep *testnet.Report, names ...string) {
	t.Helper()
	for _, name := range names {
		if ok, found := rep.Checks[name]; !ok || !found {
			t.Errorf("check %s: %v (present %v), want true", name, ok, found)
		}
	}
}

// isSupernode tells a supernode's StatefulSet from an agent's, in any zone.
func isSupernode(name string) bool { return strings.Contains(name, "supernode-") }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// churnOf is what the churn scenario does to the node of set: the
// --then of its `testnet crash` wrapper, or "".
func churnOf(set *appsv1.StatefulSet) string {
	for _, c := range set.Spec.Template.Spec.Containers {
		if i := slices.Index(c.Args, "--then"); i >= 0 && i+1 < len(c.Args) {
			return c.Args[i+1]
		}
	}
	return ""
}

// pod runs pod name's containers with its paths under the pod's own
// directory; listen maps the pod's libp2p and API ports.
func (c *localCluster) pod(name string, pod corev1.PodSpec, p2p, api int) []*proc {
	t := c.e.t
	root := c.e.path("pods", name)
	rewrite := func(s string) string {
		for _, prefix := range []string{"/etc/patchnet", "/var/lib/patchnet", "/run/patchnet", "/srv/debs", "/srv/fix"} {
			s = strings.ReplaceAll(s, prefix, root+prefix)
		}
		s = strings.NewReplacer(c.replace...).Replace(s) // other pods' addresses first: they name :9090 too
		s = strings.ReplaceAll(s, "/ip4/0.0.0.0/tcp/4001", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2p))
		return strings.ReplaceAll(s, ":9090", fmt.Sprintf("127.0.0.1:%d", api))
	}
	all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	for _, ctr := range all {
		c.r.podFiles(t, root, pod, ctr)
	}
	filepath.Walk(filepath.Join(root, "etc/patchnet/config"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(rewrite(string(data))), 0o600)
		}
		return nil
	})
	args := func(ctr corev1.Container) []string {
		out := make([]string, len(ctr.Args))
		for i, a := range ctr.Args {
			out[i] = rewrite(a)
		}
		return out
	}
	for _, ctr := range pod.InitContainers {
		if ctr.Name == "shape" { // it would shape this host's own link: TestTestnetShapeInNamespace runs it in a namespace
			continue
		}
		c.e.run(args(ctr)...)
	}
	var procs []*proc
	for _, ctr := range pod.Containers {
		procs = append(procs, c.e.spawn(name+"/"+ctr.Name, args(ctr)...))
	}
	return procs
}

// spawn starts a process and collects its output.
func (e *e2e) spawn(name string, args ...string) *proc {
	p := &proc{name: name, cmd: exec.Command(e.bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.procs = append(e.procs, p)
	go func() { p.cmd.Wait(); close(p.done) }()
	return p
}

// waitHTTP waits until GET url answers 200, failing with p's output if p
// exits first.
func (e *e2e) waitHTTP(url string, p *proc, also ...*proc) {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		for _, q := range append([]*proc{p}, also...) {
			select {
			case <-q.done:
				e.t.Fatalf("%s exited:\n%s", q.name, q.output())
			default:
			}
		}
		if time.Now().After(deadline) {
			var more strings.Builder
			for _, q := range also {
				fmt.Fprintf(&more, "\n%s:\n%s", q.name, q.output())
			}
			e.t.Fatalf("%s never answered %s:\n%s%s", p.name, url, p.output(), more.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The rendered private zone played on this host: the vendor origin, the
// supernodes and agents (prepare, init agent, the daemons and their API
// proxies) and the publisher Job run as the manifests say; the Job exits 0
// once k supernodes co-signed, every agent installs the fix with dpkg in
// its sandbox, and `patchnet testnet collect` through the proxies reports
// every agent's sample.
func TestTestnetRenderedZoneRuns(t *testing.T) {
	playRenderedZone(t, testnet.ScenarioPropagation, 2, 2)
}

// The rendered late-join scenario played the same way: agent-1's pod
// waits (`patchnet testnet wait`) until both supernodes co-signed the
// fix, so it starts after the announcement went out, catches up and
// installs; collect, told it is late, checks late_joiners_caught_up.
// (Here its pod starts once the publisher Job ended, so its wait returns
// at once; on a cluster the init container does the holding back.)
func TestTestnetRenderedLateJoinRuns(t *testing.T) {
	rep, _ := playRenderedZone(t, testnet.ScenarioLateJoin, 2, 2)
	wantChecks(t, rep, "late_joiners_caught_up")
}

// The rendered stolen-key scenario played the same way: the publisher
// Job's thief step publishes the old package as the fix with the
// publisher's key and exits 0 only because both supernodes refuse it;
// then the fix goes out, and collect's scenario checks hold: every
// supernode refused the thief's update, none co-signed it, no agent
// accepted it, and no journal holds a wrong install.
func TestTestnetRenderedStolenKeyRuns(t *testing.T) {
	rep, _ := playRenderedZone(t, testnet.ScenarioStolenKey, 2, 2)
	wantChecks(t, rep, "supernodes_refused", "none_cosigned", "no_agent_accepted_stolen")
}

// The rendered byzantine scenario played the same way, with three
// supernodes: the publisher Job's init steps sign a conflicting payload
// of the fix with the publisher's and the last supernode's keys, gossip
// it, and wait until both agents hold it pending; then the fix goes out,
// the byzantine supernode's daemon co-signs it too, and every agent
// catches the conflict and installs the fix, none the old package.
func TestTestnetRenderedByzantineRuns(t *testing.T) {
	rep, _ := playRenderedZone(t, testnet.ScenarioByzantine, 3, 2)
	wantChecks(t, rep, "conflict_caught_everywhere")
}

// The rendered revocation scenario played the same way, with three
// supernodes: the publisher Job sends the CRL render issued (the last
// supernode revoked) and waits until every node applied it; then the
// fix goes out, and no agent counts the revoked supernode's co-signature
// (it runs on and co-signs as before).
func TestTestnetRenderedRevocationRuns(t *testing.T) {
	rep, _ := playRenderedZone(t, testnet.ScenarioRevocation, 3, 2)
	wantChecks(t, rep, "crl_applied_everywhere", "revoked_cosigner_never_counted")
}

// The rendered churn scenario played the same way, with four agents and
// a churn share of a half: agent-0 and agent-1 run behind `patchnet
// testnet crash`, which SIGKILLs each as the fix reaches it; agent-0 is
// started again on its state and catches up, agent-1 stays down. The
// survivors install, the restarted one too (restarted_caught_up), and
// collect reads no agent left down. A 5 s rollout spread leaves the
// crash time to come before an install, as links beyond loopback would
// (the test asserts the crash, not that it came first).
func TestTestnetRenderedChurnRuns(t *testing.T) {
	rep, e := playRenderedZone(t, testnet.ScenarioChurn, 2, 4, "--churn", "0.5", "--rollout-spread", "5s")
	for _, name := range []string{"agent-0", "agent-1"} {
		if _, err := os.Stat(e.path("pods", name, "var/lib/patchnet/state", crashMarker)); err != nil {
			t.Errorf("%s was not crashed: %v", name, err)
		}
	}
	if _, err := os.Stat(e.path("pods", "agent-2", "var/lib/patchnet/state", crashMarker)); err == nil {
		t.Error("agent-2, a survivor, was crashed")
	}
	if _, err := node.DialAPI(t.Context(), e.path("pods", "agent-1", "var/lib/patchnet/state")); err == nil {
		t.Error("agent-1's node answers: it was to stay down")
	}
	wantChecks(t, rep, "survivors_accepted", "survivors_installed", "restarted_caught_up")
	if rep.Nodes != 3 || len(rep.Samples) != 3 {
		t.Errorf("report of %d agents, %d samples: want the 3 not left down", rep.Nodes, len(rep.Samples))
	}
}

// The rendered flood scenario played the same way, in a public zone:
// the flooder Job's two peers outside the PKI forge announcements next to
// both agents and replay the fix; the agents drop the flood, graylist and
// disconnect both peers, accept nothing but the fix and install it.
func TestTestnetRenderedFloodRuns(t *testing.T) {
	rep, _ := playRenderedZone(t, testnet.ScenarioFlood, 2, 2)
	wantChecks(t, rep, "forgeries_dropped", "flooders_graylisted", "nothing_else_accepted")
}

// The rendered content scenario played the same way, with a fix of
// 2 MiB that the vendor's and the publisher's pods rebuild (no ConfigMap
// carries it): the supernodes fetch it from the vendor origin, the
// agents from the zone's peers, and collect reads what the origin
// served: within each supernode's own fetch and one more copy. The zone
// is rendered shaped (its shaping sidecars are not run here: they would
// shape this host).
func TestTestnetRenderedContentRuns(t *testing.T) {
	rep, _ := playRenderedZone(t, testnet.ScenarioContent, 2, 3, "--artifact-size", "2MiB", "--origin-bandwidth", "100Mbit", "--latency", "20ms")
	wantChecks(t, rep, "origin_egress_within_bound", "peers_served")
	t.Logf("a %d-byte fix: origins served %d, peers %d", rep.ArtifactBytes, rep.OriginEgressBytes, rep.PeerEgressBytes)
	if rep.ArtifactBytes < 2<<20 || rep.ArtifactBytes > 2<<20+4<<10 {
		t.Errorf("report of a %d-byte artifact, want about 2 MiB", rep.ArtifactBytes)
	}
	if rep.LatencyMS != 20 {
		t.Errorf("report of %v ms latency: collect was not told the rendered 20 ms", rep.LatencyMS)
	}
	if rep.OriginEgressBytes < 2*rep.ArtifactBytes {
		t.Errorf("origin egress %d: less than the supernodes' two fetches of %d bytes: the vendor origin was not read", rep.OriginEgressBytes, rep.ArtifactBytes)
	}
}

// The rendered private-zone scenario played the same way: a public zone
// and beside it the private zone acme (its own zone CA under the same
// root, a pre-shared key, two supernodes and a publisher Job of its own),
// two agents each; the public agents are given the private supernodes as
// bootstrap peers too. Each zone's Job publishes its own fix; every agent
// installs its own zone's, no node hears of the other zone's update, and
// none is connected to a node of the other zone.
func TestTestnetRenderedPrivateZoneRuns(t *testing.T) {
	rep, _ := playRenderedZone(t, testnet.ScenarioPrivateZone, 2, 4)
	wantChecks(t, rep, "public_installed", "private_installed", "public_never_saw_private", "private_never_saw_public", "no_peer_across_zones")
}

// playRenderedZone renders a zone of supernodes (k = 2) and agents
// playing scenario (private but for flood; more render flags in extra),
// plays it on this host and returns collect's report once every agent it
// reads installed and every check holds (or fails at the deadline).
func playRenderedZone(t *testing.T, scenario string, supernodes, agentCount int, extra ...string) (*testnet.Report, *e2e) {
	e := newE2E(t)
	out := e.path("zone.yaml")
	if scenario != testnet.ScenarioFlood && scenario != testnet.ScenarioPrivateZone { // the flooding peers would not get in; private-zone makes its private zone
		extra = append(extra, "--private")
	}
	said := e.run(append([]string{"testnet", "render", "--k8s", "--nodes", fmt.Sprint(agentCount), "--supernodes", fmt.Sprint(supernodes),
		"--threshold", "2", "--namespace", "tn", "--out", out, "--scenario", scenario}, extra...)...)
	// The collect command render prints names the fix's artifact.
	sum := regexp.MustCompile(`--artifact-sha256 ([0-9a-f]{64})`).FindStringSubmatch(said)
	if sum == nil {
		t.Fatalf("render printed no --artifact-sha256 for collect:\n%s", said)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c := &localCluster{e: e, r: decodeRendered(t, data)}
	vendorPort := freeport.Get(t)
	c.replace = []string{"http://vendor.tn.svc.cluster.local:8080/", fmt.Sprintf("http://127.0.0.1:%d/", vendorPort),
		":8080", fmt.Sprintf("127.0.0.1:%d", vendorPort)}
	snPorts := map[string]int{}
	for name := range c.r.sets {
		if isSupernode(name) {
			snPorts[name] = freeport.Get(t)
			c.replace = append(c.replace, "/dns4/"+name+"-0.supernodes.tn.svc.cluster.local/tcp/4001",
				fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", snPorts[name]))
		}
	}
	vendor := c.pod("vendor", c.r.deploy.Spec.Template.Spec, 0, 0)[0]
	// Its readiness probe's path: a file fetched here would count as egress.
	e.waitHTTP(fmt.Sprintf("http://127.0.0.1:%d%s", vendorPort, k8s.OriginServedPath), vendor)
	// Supernodes first: the agents bootstrap off them. A private zone's
	// names start with its prefix.
	names := slices.Sorted(maps.Keys(c.r.sets))
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(b2i(!isSupernode(a)), b2i(!isSupernode(b))) })
	if len(names) != supernodes*len(c.r.jobs)+agentCount {
		t.Fatalf("rendered %d nodes (%v) for %d supernodes a zone, %d zones and %d agents", len(names), names, supernodes, len(c.r.jobs), agentCount)
	}
	apis := map[string]string{}
	for _, name := range names {
		apis[name] = fmt.Sprintf("http://127.0.0.1:%d", freeport.Get(t))
		svc := "agents"
		if isSupernode(name) {
			svc = "supernodes"
		}
		c.replace = append(c.replace, "http://"+name+"-0."+svc+".tn.svc.cluster.local:9090", apis[name])
	}
	start := func(name string) {
		// Agents listen on a port of the kernel's choosing: nobody dials
		// them first, and a port picked here could be taken by the time
		// the daemon binds it when other tests run beside this one.
		var api int
		fmt.Sscanf(apis[name], "http://127.0.0.1:%d", &api)
		procs := c.pod(name, c.r.sets[name].Spec.Template.Spec, snPorts[name], api)
		e.waitHTTP(apis[name]+"/v1/status", procs[1], procs[0])
	}
	var late []string // held back by an init container until the fix is co-signed
	for _, name := range names {
		if slices.ContainsFunc(c.r.sets[name].Spec.Template.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "wait-for-fix" }) {
			late = append(late, name)
			continue
		}
		start(name)
	}
	if (scenario == testnet.ScenarioLateJoin) != (len(late) == 1) {
		t.Fatalf("late agents %v in scenario %s", late, scenario)
	}
	var flooded []string // the agents the flooding peers connect to
	if c.r.flooder != nil {
		flooded = c.startFlooder(apis)
	}
	var publishers []*proc // each zone's publisher Job, at once
	for _, job := range c.r.jobs {
		publishers = append(publishers, c.pod(job.Name, job.Spec.Template.Spec, freeport.Get(t), 0)[0])
	}
	publish := publishers[0]
	for _, p := range publishers {
		select {
		case <-p.done:
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s Job did not finish:\n%s", p.name, p.output())
		}
		if p.cmd.ProcessState.ExitCode() != 0 {
			t.Fatalf("%s Job failed:\n%s", p.name, p.output())
		}
	}
	c.waitCrashed(names) // before collect reads the zone: churned nodes die as the fix reaches them
	size := regexp.MustCompile(`--artifact-size (\d+)`).FindStringSubmatch(said)
	if size == nil {
		t.Fatalf("render printed no --artifact-size for collect:\n%s", said)
	}
	args := []string{"testnet", "collect", "--update-id", "TESTNET-0001", "--artifact-sha256", sum[1], "--threshold", "2",
		"--scenario", scenario, "--artifact-size", size[1], "--origin", fmt.Sprintf("http://127.0.0.1:%d/", vendorPort), "--plot", e.path("plot.svg")}
	if revoked := regexp.MustCompile(`--revoked-peer (\S+)`).FindStringSubmatch(said); revoked != nil {
		args = append(args, "--revoked-peer", revoked[1])
	}
	for _, m := range regexp.MustCompile(`(--latency|--bandwidth|--loss) (\S+)`).FindAllStringSubmatch(said, -1) { // the shaping, for the report
		args = append(args, m[1], m[2])
	}
	for _, name := range late { // their pods' init containers run to completion here, as the fix is out
		start(name)
		args = append(args, "--late-endpoint", apis[name])
	}
	read := 0 // the agents collect reads: not those churn leaves down
	for _, name := range flooded {
		args = append(args, "--flood-target-endpoint", apis[name])
	}
	for _, name := range names {
		switch churnOf(c.r.sets[name]) {
		case k8s.ChurnStayDown:
			continue
		case k8s.ChurnRestart:
			args = append(args, "--restarted-endpoint", apis[name])
		}
		args = append(args, "--endpoint", apis[name])
		if !isSupernode(name) {
			read++
		}
	}
	args = append(args, "--nodes", fmt.Sprint(read))
	// --quiet and --until-ok, as render prints them: the report alone on
	// stdout, nothing on stderr, failed checks or not (`testnet show`
	// below prints the table), collected again while a check fails
	// (graylisting a flooder can come after the installs).
	collect := exec.Command(e.bin, append(args, "--quiet", "--until-ok", "90s", "--out", e.path("report.json"))...)
	var quietSaid strings.Builder
	collect.Stderr = &quietSaid
	_, err = collect.Output()
	if quietSaid.Len() > 0 {
		t.Fatalf("collect --quiet exited %v, saying on stderr:\n%s", err, quietSaid.String())
	}
	data, err2 := os.ReadFile(e.path("report.json"))
	if err2 != nil {
		t.Fatalf("collect exited %v and wrote no report: %v", err, err2)
	}
	var rep testnet.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if (err == nil) != (len(rep.FailedChecks()) == 0) {
		t.Fatalf("collect exited %v with failed checks %v", err, rep.FailedChecks())
	}
	if rep.Schema != testnet.SchemaVersion {
		t.Fatalf("collect wrote schema %d, want %d", rep.Schema, testnet.SchemaVersion)
	}
	if err != nil {
		var agents strings.Builder
		for _, p := range e.procs {
			if strings.Contains(p.name, "agent-") {
				fmt.Fprintf(&agents, "%s:\n%s\n", p.name, p.output())
			}
		}
		t.Fatalf("checks %v failed; samples: %+v\npublisher:\n%s\n%s", rep.FailedChecks(), rep.Samples, publish.output(), agents.String())
	}
	if len(rep.Samples) != read || rep.Results[testnet.ResultPatchnet].Delivered != 1 {
		t.Errorf("report: %d samples, patchnet %+v; want %d, all delivered", len(rep.Samples), rep.Results[testnet.ResultPatchnet], read)
	}
	if svg, err := os.ReadFile(e.path("plot.svg")); err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("collect --plot wrote %d bytes, %v; want an SVG", len(svg), err)
	}
	if table := e.run("testnet", "show", e.path("report.json")); !strings.Contains(table, "patchnet") || !strings.Contains(table, scenario) {
		t.Errorf("testnet show of collect's report printed:\n%s", table)
	}
	seen := map[string]bool{} // each agent's counters go to its own sample
	for _, smp := range rep.Samples {
		if seen[smp.Node] {
			t.Errorf("two samples of node %q: %+v", smp.Node, rep.Samples)
		}
		seen[smp.Node] = true
	}
	if !rep.Checks[testnet.CheckNoWrongInstalls] {
		t.Errorf("collect found wrong installs: %+v", rep.Samples)
	}
	for _, name := range names {
		// One left down was killed as the fix reached it: before or after
		// its install, as the race went.
		if isSupernode(name) || churnOf(c.r.sets[name]) == k8s.ChurnStayDown {
			continue
		}
		if v, err := nodelab.InstalledVersion(t.Context(), e.path("pods", name, "var/lib/patchnet/sysroot")); err != nil || v != nodelab.NewVersion {
			t.Errorf("%s's sandbox has %q, %v; want %s", name, v, err, nodelab.NewVersion)
		}
	}
	if rep.Scenario != scenario {
		t.Errorf("report of scenario %q, want %q", rep.Scenario, scenario)
	}
	checkRenderedBaseline(t, said, &rep, agentCount, fmt.Sprintf("http://127.0.0.1:%d/", vendorPort))
	return &rep, e
}

// checkRenderedBaseline: where render said the zone runs the HTTP
// baseline, every agent's pod downloaded the fix from the origin once
// all installed, and collect reported it; elsewhere it is absent.
func checkRenderedBaseline(t *testing.T, said string, rep *testnet.Report, agents int, origin string) {
	t.Helper()
	res, ok := rep.Results[testnet.ResultHTTPOrigin]
	if !strings.Contains(said, "then the HTTP baseline") {
		if ok || rep.HTTPOriginEgressBytes != 0 {
			t.Errorf("an HTTP baseline %+v (%d bytes) in a zone rendered without one", res, rep.HTTPOriginEgressBytes)
		}
		return
	}
	if !ok || res.Delivered != 1 || res.MaxMS <= 0 {
		t.Errorf("HTTP baseline %+v (reported %v): want every agent's download, timed", res, ok)
	}
	if want := int64(agents) * rep.ArtifactBytes; rep.HTTPOriginEgressBytes != want {
		t.Errorf("the HTTP baseline's origin served %d bytes, want %d agents × %d", rep.HTTPOriginEgressBytes, agents, rep.ArtifactBytes)
	}
	checkRenderedRaw(t, said, rep, origin)
}

// checkRenderedRaw: where render said the zone runs the raw gossipsub
// baseline, every agent's raw peer got each round's message through the
// peers of the nodes it is connected to, in messages as large as the
// announcement the agents accepted, and collect reported it.
func checkRenderedRaw(t *testing.T, said string, rep *testnet.Report, origin string) {
	t.Helper()
	res, ok := rep.Results[testnet.ResultRawGossipsub]
	if !strings.Contains(said, "then the raw gossipsub baseline") {
		if ok {
			t.Errorf("a raw gossipsub baseline %+v in a zone rendered without one", res)
		}
		return
	}
	if !ok || res.Delivered != 1 || res.MaxMS <= 0 || len(rep.RawRoundsMaxMS) != rawgossip.Rounds {
		t.Errorf("raw gossipsub baseline %+v (reported %v, rounds %v): want every agent's delivery, timed, in %d rounds",
			res, ok, rep.RawRoundsMaxMS, rawgossip.Rounds)
	}
	s, err := k8s.FetchRaw(t.Context(), origin)
	if err != nil {
		t.Fatal(err)
	}
	if s.MessageBytes <= 0 || int64(s.MessageBytes) != rep.AnnouncementBytes {
		t.Errorf("raw rounds of %d-byte messages, announcement %d bytes: want the announcement's size", s.MessageBytes, rep.AnnouncementBytes)
	}
}

package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// startNodeCmd runs `patchnet agent` (or supernode) with args until the
// test ends, and returns once it listens; its output is in the buffer.
func startNodeCmd(t *testing.T, role trust.Role, args ...string) *syncBuffer {
	t.Helper()
	cmd := newAgentCmd()
	if role == trust.RoleSupernode {
		cmd = newSupernodeCmd()
	}
	out := &syncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v\n%s", role, err, out.String())
		}
	})
	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), "listening on /ip4/127.0.0.1/tcp/") {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("%s stopped before listening: %v\n%s", role, err, out.String())
		case <-deadline:
			t.Fatalf("no listening line within 30s:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return out
}

// startAgent starts an agent on a new state directory of zone lab and
// returns the state directory.
func startAgent(t *testing.T) string {
	t.Helper()
	state := t.TempDir()
	root := nodeFiles(t, state, trust.RoleAgent)
	startNodeCmd(t, trust.RoleAgent, "--state", state, "--root", root, "--zone", "lab",
		"--sysroot", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--require-tool-pins=false")
	return state
}

func TestStatusOfRunningAgent(t *testing.T) {
	state := startAgent(t)
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"summary", nil, func(t *testing.T, out string) {
			for _, want := range []string{"agent 12D3KooW", " of zone lab (root ", "listening on /ip4/127.0.0.1/tcp/",
				"peers: none connected", "patchnet/lab/announce", "dht: server mode", "CRLs: none held", "updates: none", "overlay:\n  auth_"} {
				if !strings.Contains(out, want) {
					t.Errorf("status lacks %q:\n%s", want, out)
				}
			}
		}},
		{"json", []string{"--json"}, func(t *testing.T, out string) {
			var st node.APIStatus
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			if st.Zone.Name != "lab" || strings.Join(st.Roles, ",") != "agent" || !strings.HasPrefix(st.ID, "12D3KooW") {
				t.Errorf("--json: zone %q, roles %v, id %s", st.Zone.Name, st.Roles, st.ID)
			}
		}},
		{"config names the state", []string{"--config", writeNodeConfig(t, state)}, func(t *testing.T, out string) {
			if !strings.Contains(out, " of zone lab ") {
				t.Errorf("status --config:\n%s", out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "--config") {
				args = append(args, "--state", state)
			}
			out, err := runCommand(t, newStatusCmd(), args...)
			if err != nil {
				t.Fatalf("status: %v\n%s", err, out)
			}
			tc.check(t, out)
		})
	}
}

// writeNodeConfig writes a node config whose state is state.
func writeNodeConfig(t *testing.T, state string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.toml")
	writeTestFile(t, path, "state = "+tomlQuote(state)+"\nroots = [\"/nonexistent\"]\nzone = \"lab\"\n")
	return path
}

// tomlQuote quotes s as a TOML basic string.
func tomlQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// --watch redraws until interrupted, then exits 0.
func TestStatusWatchRedrawsUntilInterrupted(t *testing.T) {
	state := startAgent(t)
	cmd := newStatusCmd()
	out := &syncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs([]string{"--state", state, "--watch", "--interval", "100ms"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	deadline := time.After(30 * time.Second)
	for strings.Count(out.String(), " of zone lab ") < 3 {
		select {
		case err := <-done:
			t.Fatalf("status --watch ended by itself: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("fewer than 3 frames within 30s:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("status --watch interrupted: %v", err)
	}
}

func TestStatusRefusesBadInput(t *testing.T) {
	state := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no daemon", []string{"--state", state},
			"no patchnet daemon answers at " + filepath.Join(state, "patchnet.sock") + " (is `patchnet agent --state " + state + "` running?)"},
		{"no daemon, watching", []string{"--state", state, "--watch"}, "no patchnet daemon answers at "},
		{"interval without watch", []string{"--state", state, "--interval", "1s"}, "--interval needs --watch"},
		{"interval too short", []string{"--state", state, "--watch", "--interval", "1ms"}, "want at least"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCommand(t, newStatusCmd(), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("status %v: %v, want an error saying %q\n%s", tc.args, err, tc.want, out)
			}
		})
	}
}

// While an agent runs on its state directory (holding the journal's
// lock, which the offline path would wait on and fail), history goes
// through its socket and prints what it printed offline before.
func TestHistoryThroughDaemon(t *testing.T) {
	w := newApplyWorld(t) // a journal holding one install
	offline := map[string]string{}
	for _, format := range historyFormats {
		out, err := runCommand(t, newHistoryCmd(), "--state", w.state, "--format", format)
		if err != nil {
			t.Fatalf("offline history: %v\n%s", err, out)
		}
		offline[format] = out
	}
	startAgentOn(t, w)
	for _, format := range historyFormats {
		out, err := runCommand(t, newHistoryCmd(), "--state", w.state, "--format", format)
		if err != nil {
			t.Fatalf("history --format %s while the agent runs: %v\n%s", format, err, out)
		}
		if out != offline[format] {
			t.Errorf("history --format %s through the daemon:\n%s\noffline:\n%s", format, out, offline[format])
		}
	}
}

// A rollback through the daemon prints what one offline prints, and
// undoes the install as well.
func TestRollbackThroughDaemonPrintsAsOffline(t *testing.T) {
	var outs [2]string
	for i, viaDaemon := range []bool{true, false} {
		w := newApplyWorld(t) // pn-hello 1.0 installed by patchnet, from nothing
		first := w.historyJSON(t)[0]
		if viaDaemon {
			startAgentOn(t, w)
		}
		out, err := runCommand(t, newRollbackCmd(), first.ID, "--state", w.state)
		if err != nil {
			t.Fatalf("rollback (daemon %v): %v\n%s", viaDaemon, err, out)
		}
		if _, err := runCommand(t, newRollbackCmd(), first.ID, "--state", w.state); err == nil ||
			!strings.Contains(err.Error(), "already rolled back") {
			t.Errorf("second rollback (daemon %v): %v, want a refusal", viaDaemon, err)
		}
		outs[i] = normalizeRollback(out, w)
	}
	if outs[0] != outs[1] {
		t.Errorf("rollback through the daemon printed\n%s\noffline\n%s", outs[0], outs[1])
	}
	if !strings.Contains(outs[0], "rolling back TX in ROOT\n") || !strings.Contains(outs[0], "] committed") ||
		!strings.Contains(outs[0], "rolled back TX: ") {
		t.Errorf("rollback output lacks its lines:\n%s", outs[0])
	}
}

// startAgentOn starts an agent on w's state directory and sysroot.
func startAgentOn(t *testing.T, w *applyWorld) {
	t.Helper()
	root := nodeFiles(t, w.state, trust.RoleAgent)
	startNodeCmd(t, trust.RoleAgent, "--state", w.state, "--root", root, "--zone", "lab",
		"--sysroot", w.root, "--listen", "/ip4/127.0.0.1/tcp/0", "--require-tool-pins=false")
}

var txIDRE = regexp.MustCompile(`\d{8}-\d{6}\.\d{6}-[0-9a-f]{6}`)

// normalizeRollback replaces what differs between two worlds: transaction
// ids, the sysroot and the state directory.
func normalizeRollback(out string, w *applyWorld) string {
	out = strings.ReplaceAll(out, w.root, "ROOT")
	out = strings.ReplaceAll(out, w.state, "STATE")
	return txIDRE.ReplaceAllString(out, "TX")
}

// The summary of a lab agent that installed an update: its peers, its
// CRLs and the update in the table.
func TestStatusOfLabAgentAfterInstall(t *testing.T) {
	l, err := nodelab.New(context.Background(), nodelab.Options{Dir: t.TempDir(), Agents: 1, Supernodes: 2, Threshold: 2,
		FakeInstaller: true}) // status shows the lifecycle, whichever installer ran
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fix, err := l.Fix(context.Background(), "PNT-2026-0901", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(context.Background(), fix); err != nil {
		t.Fatal(err)
	}
	agent := l.Agents[0]
	deadline := time.Now().Add(60 * time.Second)
	for !agent.Status().Has(node.EventInstalled) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not install within 60s: %+v", agent.Name, agent.Status().Events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := runCommand(t, newStatusCmd(), "--state", filepath.Join(agent.Dir, "state"))
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, re := range []string{
		`(?m)^agent 12D3KooW\S+ of zone demo \(root [0-9a-f]{16}…\)$`,
		`(?m)^peers: [1-9]\d* connected$`,
		`(?m)^  12D3KooW\S+ +(supernode|publisher|agent) +(-|-?\d+\.\d) +/ip4/127\.0\.0\.1/tcp/\d+`,
		`(?m)^  /patchnet/demo/announce +[1-9]\d* +[1-9]\d*$`,
		`(?m)^  ISSUER +NUMBER +REVOKED +ISSUED +NEXT UPDATE`,
		`(?m)^  .*\d+[smhd] ago +in \d+[smhd] *$`,
		`(?m)^updates: 1, 0 in flight$`,
		`(?m)^  ID +VERSION +STATE +DETAIL +UPDATED$`,
		`(?m)^  PNT-2026-0901 +1 +installed +.+ +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`,
		`(?m)^  \d\d:\d\d:\d\d\.\d{3} installed PNT-2026-0901 v1: `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status lacks a line matching %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "STALE") {
		t.Errorf("a fresh CRL marked STALE:\n%s", out)
	}
}

// An agent that opted in reports its install to the supernodes: `patchnet
// status` on a supernode lists it under the update, by the agent's name.
func TestStatusOfLabSupernodeListsInstallReports(t *testing.T) {
	l, err := nodelab.New(context.Background(), nodelab.Options{Dir: t.TempDir(), Agents: 1, Supernodes: 2, Threshold: 2,
		FakeInstaller: true, Configure: func(_ string, cfg *node.Config) { cfg.Report.Enabled = true }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fix, err := l.Fix(context.Background(), "PNT-2026-0902", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(context.Background(), fix); err != nil {
		t.Fatal(err)
	}
	sn := l.Supernodes[0]
	deadline := time.Now().Add(60 * time.Second)
	for !sn.Status().Has(node.EventReportReceived) {
		if time.Now().After(deadline) {
			t.Fatalf("%s got no install report within 60s: %+v", sn.Name, sn.Status().Events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := runCommand(t, newStatusCmd(), "--state", filepath.Join(sn.Dir, "state"))
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, re := range []string{
		`(?m)^install reports: 1 update version\(s\)$`,
		`(?m)^  PNT-2026-0902 +1 +1 +0 +0$`,
		`(?m)^    ` + l.Agents[0].ID().String() + ` installed \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status lacks a line matching %s:\n%s", re, out)
		}
	}
}

// The summary marks a CRL past its next update STALE, says when a
// scheduled update may be installed, and how many peers and updates it
// leaves out.
func TestWriteStatus(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := node.APIStatus{Now: now, ID: "12D3KooWself", Roles: []string{"agent"}, Zone: node.APIZone{Name: "acme", Root: strings.Repeat("ab", 32)}}
	for _, tc := range []struct {
		name string
		edit func(st *node.APIStatus)
		want []string
		not  []string
	}{
		{"fresh and stale CRLs", func(st *node.APIStatus) {
			st.CRLs = []node.APICRL{
				{Issuer: "zone CA acme", Number: "7", ThisUpdate: now.Add(-2 * time.Hour), NextUpdate: now.Add(22 * time.Hour)},
				{Issuer: "root CA acme root", Number: "3", Revoked: 1, ThisUpdate: now.Add(-72 * time.Hour), NextUpdate: now.Add(-5 * time.Hour), Stale: true},
			}
		}, []string{"zone CA acme       7       0        2h ago  in 22h\n", "root CA acme root  3       1        3d ago  5h ago  STALE\n"}, nil},
		{"scheduled update", func(st *node.APIStatus) {
			st.Updates = []node.APIUpdate{{ID: "PNT-1", Version: 2, State: node.StateScheduled, Detail: "maintenance window",
				NotBefore: now.Add(10 * time.Hour), Updated: now.Add(-time.Minute)}}
			st.UpdatesOmitted = 4
		}, []string{"updates: 1, 1 in flight, 4 older ones not shown\n",
			"PNT-1  2        scheduled  maintenance window; not before 2026-11-26 22:00:00Z  2026-11-26 11:59:00Z\n"}, nil},
		{"pending short of k and a stale heartbeat", func(st *node.APIStatus) {
			st.Pending = []node.APIPending{{ID: "PNT-9", Version: 3, Digest: updates.Digest{0xab, 0xcd}, CoSigners: 1, Threshold: 2}}
			st.Heartbeat = &node.APIHeartbeat{Newest: now.Add(-4 * time.Minute), AgeSeconds: 240, Supernodes: 2, MaxAge: "3m0s", Stale: true}
		}, []string{"pending: PNT-9 version 3, 1/2 co-signatures (payload abcd00000000…)\n",
			"heartbeats: newest 4m0s ago from 2 supernode(s) (max age 3m0s) STALE: the zone may be cut off or frozen\n"}, nil},
		{"fetch in flight", func(st *node.APIStatus) {
			st.Fetching = []node.APIFetch{{SHA256: strings.Repeat("9f", 32), Done: 4096, Total: 10240, Source: "peers",
				Peers: []string{"12D3KooWAAAAAAAAAA", "12D3KooWBBBBBBBBBB"}}}
		}, []string{"fetching: artifact 9f9f9f9f9f9f…, 4096/10240 bytes from peers: 12D3KooWAAAA…, 12D3KooWBBBB…\n"}, nil},
		{"fresh heartbeat", func(st *node.APIStatus) {
			st.Heartbeat = &node.APIHeartbeat{Newest: now.Add(-20 * time.Second), AgeSeconds: 20, Supernodes: 3, MaxAge: "3m0s"}
		}, []string{"heartbeats: newest 20s ago from 3 supernode(s) (max age 3m0s)\n"}, []string{"STALE"}},
		{"peers left out", func(st *node.APIStatus) {
			st.Peers = []node.APIPeer{{ID: "12D3KooWpeer", Role: "supernode", Addrs: []string{"/ip4/192.0.2.1/tcp/4001"}}}
			st.PeersTotal = 600
		}, []string{"peers: 600 connected (1 shown)\n", "12D3KooWpeer  supernode  -      /ip4/192.0.2.1/tcp/4001\n"}, nil},
		{"a peer scored down", func(st *node.APIStatus) {
			score := -80.5
			st.Peers = []node.APIPeer{{ID: "12D3KooWpeer", Role: "unverified", Score: &score, Addrs: []string{"/ip4/192.0.2.1/tcp/4001"}}}
			st.PeersTotal = 1
		}, []string{"  PEER          ROLE        SCORE  ADDRESS\n", "12D3KooWpeer  unverified  -80.5  /ip4/192.0.2.1/tcp/4001\n"}, nil},
		{"install reports on a supernode", func(st *node.APIStatus) {
			st.Roles = []string{"supernode"}
			st.Reports = []node.ReportSummary{{ID: "PNT-1", Version: 2,
				Counts: map[node.ReportOutcome]int{node.OutcomeInstalled: 1, node.OutcomeFailed: 1},
				Agents: []node.ReportAgent{{Agent: "12D3KooWa", Outcome: node.OutcomeInstalled, At: now},
					{Agent: "12D3KooWb", Outcome: node.OutcomeFailed, Reason: "other", At: now.Add(-time.Minute)}}}}
		}, []string{"install reports: 1 update version(s)\n", "  ID     VERSION  INSTALLED  FAILED  REFUSED\n", "  PNT-1  2        1          1       0\n",
			"  PNT-1 v2:\n    12D3KooWa installed 2026-11-26 12:00:00Z\n    12D3KooWb failed (other) 2026-11-26 11:59:00Z\n"}, nil},
		{"conflicting co-signatures held", func(st *node.APIStatus) {
			st.Conflicts = []updates.Alert{
				{Kind: updates.AlertConflictingCoSignature, ID: "PNT-1", Version: 2, First: updates.AlertSide{Digest: updates.Digest{0xaa}},
					Second:       updates.AlertSide{Digest: updates.Digest{0xbb}, Signers: []string{"CN=pub (12D3KooWp, publisher)", "CN=sn3 (12D3KooWs3, supernode)"}},
					Equivocators: []string{"CN=sn3 (12D3KooWs3, supernode)"}},
				{Kind: updates.AlertConflictingCoSignature, ID: "PNT-3", Version: 1, Contested: true, First: updates.AlertSide{Digest: updates.Digest{0xcc}},
					Second: updates.AlertSide{Digest: updates.Digest{0xdd}, Signers: []string{"CN=sn2 (12D3KooWs2, supernode)"}}},
			}
		}, []string{"conflicting co-signatures: 2 payload(s) held\n",
			"  PNT-1 v2 quarantined bb00", ", conflicts with accepted aa00",
			"    signed by: CN=pub (12D3KooWp, publisher); CN=sn3 (12D3KooWs3, supernode)\n",
			"    signed both (no longer counted): CN=sn3 (12D3KooWs3, supernode)\n",
			"  PNT-3 v1 contested dd00", ", conflicts with held cc00"}, nil},
		{"served bytes and process usage", func(st *node.APIStatus) {
			st.Content.ServedBytes = 3 << 20
			st.Process = node.APIProcess{PeakRSSBytes: 48 << 20, CPUSeconds: 2.25}
		}, []string{"served to peers: 3145728 artifact bytes; process: peak RSS 48 MiB, CPU 2.2 s\n"}, nil},
		{"the block store's last prune", func(st *node.APIStatus) {
			st.Content.Pruned = &node.APIPrune{At: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), Artifacts: 2, Blocks: 5, Bytes: 4 << 20,
				Removed: 3, FreedBytes: 1 << 20}
		}, []string{"block store: 5 blocks, 4194304 bytes, of 2 current artifact(s) after the prune at 2026-12-07 01:02:03Z (3 blocks, 1048576 bytes deleted)\n"}, nil},
		{"install reports waiting on an agent", func(st *node.APIStatus) { st.ReportsWaiting = 2 },
			[]string{"install reports waiting for a supernode: 2 (sent again until one takes them)\n"}, []string{"install reports: "}},
		{"no install reports on a supernode", func(st *node.APIStatus) { st.Roles = []string{"supernode"} },
			[]string{"install reports: none (agents send them only with [report] enabled = true)\n"}, nil},
		{"nothing yet", func(*node.APIStatus) {},
			[]string{"agent 12D3KooWself of zone acme (root abababababababab…)\n", "peers: none connected\n", "dht: off\n",
				"CRLs: none held\n", "updates: none\n", "events: none yet\n"}, []string{"STALE", "install reports", "conflicting"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := base
			tc.edit(&st)
			var b strings.Builder
			if err := writeStatus(&b, &st); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("summary lacks %q:\n%s", want, b.String())
				}
			}
			for _, not := range tc.not {
				if strings.Contains(b.String(), not) {
					t.Errorf("summary has %q:\n%s", not, b.String())
				}
			}
		})
	}
}

// TestStatusEventsShowFetchTime: a fetched event's line says how long the
// fetch took; other events' lines say nothing of the kind.
func TestStatusEventsShowFetchTime(t *testing.T) {
	at := time.Date(2026, 12, 5, 23, 40, 1, 0, time.UTC)
	st := &node.APIStatus{EventCounts: map[node.EventKind]int{node.EventFetched: 1, node.EventInstalled: 1}, Events: []node.APIEvent{
		{Kind: node.EventFetched, At: at, ID: "PNT-1", Version: 2, Detail: "1024 bytes from peers", TookMS: 1500},
		{Kind: node.EventInstalled, At: at, ID: "PNT-1", Version: 2, Detail: "hello 2.0-1"},
	}}
	var b strings.Builder
	writeEvents(&b, st)
	want := "events: last 2 of 2\n" +
		"  23:40:01.000 fetched PNT-1 v2: 1024 bytes from peers (took 1.5s)\n" +
		"  23:40:01.000 installed PNT-1 v2: hello 2.0-1\n"
	if b.String() != want {
		t.Errorf("events:\n%s\nwant:\n%s", b.String(), want)
	}
}

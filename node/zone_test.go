package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeInstallerEnv set to 1 makes newLab give agents the fake installer
// even where dpkg is installed, so that mode is exercised there too.
const fakeInstallerEnv = "PATCHNET_FAKE_INSTALLER"

// dpkgTools are what the real installer runs in the lab.
var dpkgTools = []string{"dpkg", "dpkg-deb", "dpkg-query"}

// newLab starts a lab zone whose agents install with dpkg when dpkg,
// dpkg-deb and dpkg-query are all installed, and through nodelab's
// RecordingInstaller otherwise or when PATCHNET_FAKE_INSTALLER=1.
func newLab(t testing.TB, o nodelab.Options) *nodelab.Lab {
	t.Helper()
	o.FakeInstaller = false
	if os.Getenv(fakeInstallerEnv) == "1" {
		o.FakeInstaller = true
		t.Logf("%s=1: agents install through nodelab's RecordingInstaller", fakeInstallerEnv)
	}
	for _, tool := range dpkgTools {
		if _, err := exec.LookPath(tool); err != nil && !o.FakeInstaller {
			o.FakeInstaller = true
			t.Logf("%s is not installed: agents install through nodelab's RecordingInstaller", tool)
		}
	}
	if !o.FakeInstaller {
		t.Logf("agents install with dpkg")
	}
	return startLab(t, o)
}

// newRealLab starts a lab zone whose agents install with dpkg, for a test
// of the real installer itself; it skips where dpkg is missing.
func newRealLab(t testing.TB, o nodelab.Options) *nodelab.Lab {
	t.Helper()
	requireDpkg(t)
	o.FakeInstaller = false
	return startLab(t, o)
}

// requireDpkg skips a test of the real installer where dpkg is missing.
func requireDpkg(t testing.TB) {
	t.Helper()
	for _, tool := range dpkgTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: this test is of the real installer", tool)
		}
	}
}

// startLab starts a lab zone as o says, stopped when the test ends.
func startLab(t testing.TB, o nodelab.Options) *nodelab.Lab {
	t.Helper()
	o.Dir = t.TempDir()
	l, err := nodelab.New(context.Background(), o)
	if err != nil {
		t.Fatalf("starting the lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() { // what every member did, for failures seen only under load
			t.Logf("the lab's events:\n%s", describe(l))
		}
		l.Close()
	})
	return l
}

// agentsWith lists agents whose status satisfies cond.
func agentsWith(l *nodelab.Lab, cond func(node.Status) bool) (yes, no []string) {
	for _, a := range l.Agents {
		if cond(a.Status()) {
			yes = append(yes, a.Name)
		} else {
			no = append(no, a.Name)
		}
	}
	return yes, no
}

func installedVersion(t *testing.T, m *nodelab.Member) string {
	t.Helper()
	v, err := nodelab.InstalledVersion(context.Background(), m.Sysroot)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// describe dumps every node's events, for failure messages.
func describe(l *nodelab.Lab) string {
	var b strings.Builder
	for _, m := range l.Members() {
		for _, e := range m.Status().Events {
			fmt.Fprintf(&b, "%s %s %s %s v%d: %s\n", e.At.Format("15:04:05.000"), m.Name, e.Kind, e.ID, e.Version, e.Detail)
		}
	}
	return b.String()
}

func TestZoneInstallsCoSignedUpdate(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 4, Supernodes: 3, Threshold: 2})
	for _, a := range l.Agents {
		if v := installedVersion(t, a); v != nodelab.OldVersion {
			t.Fatalf("%s starts with %q, want %s", a.Name, v, nodelab.OldVersion)
		}
	}
	publishAndWait(t, l, "PNT-2026-0001")
	for _, a := range l.Agents {
		if v := installedVersion(t, a); v != nodelab.NewVersion {
			t.Errorf("%s has %s %q after the update, want %s\n%s", a.Name, nodelab.PackageName, v, nodelab.NewVersion, describe(l))
		}
		acc, _ := a.Status().Last(node.EventAccepted)
		if len(acc.Signers) < 2 {
			t.Errorf("%s accepted with co-signers %v, want at least 2", a.Name, acc.Signers)
		}
	}
	for _, s := range l.Supernodes {
		if !s.Status().Has(node.EventCoSigned) {
			t.Errorf("%s did not co-sign\n%s", s.Name, describe(l))
		}
	}
}

// An agent that was offline while an update went out joins afterwards:
// catch-up (/patchnet/sync) brings it the co-signed envelopes its peers
// kept, it verifies and merges them like gossip, and installs.
func TestOfflineAgentCatchesUp(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0009", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the online agents to install", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	late, err := l.AddAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the late agent to install", func() bool { return late.Status().Has(node.EventInstalled) })
	if v := installedVersion(t, late); v != nodelab.NewVersion {
		t.Errorf("late agent has %q, want %s\n%s", v, nodelab.NewVersion, describe(l))
	}
	if late.Overlay().Stats().CatchUpAccepted == 0 {
		t.Errorf("late agent got the update without catch-up: %+v", late.Overlay().Stats())
	}
}

// Agents provide what they fetched, so later fetchers find them in the DHT
// and origin egress stays flat; an agent whose operator opted out
// (content.provide = false) installs too but is never listed. The
// supernodes serve these agents without help, so the agents' provides
// come within their provide_spread (short here).
func TestProvidingAndOptOut(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			cfg.Content.ProvideSpread = node.Duration(2 * time.Second)
			if name == "agent-01" {
				cfg.Content.Provide = false
			}
		}})
	fix := publishAndWait(t, l, "PNT-2026-0010")
	root, err := cid.Decode(fix.Patchnet.Artifact.ContentID)
	if err != nil {
		t.Fatal(err)
	}
	providers := func() map[peer.ID]bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ais, _ := l.Publisher.Overlay().DHT().FindProviders(ctx, root)
		got := map[peer.ID]bool{}
		for _, ai := range ais {
			got[ai.ID] = true
		}
		return got
	}
	waitFor(t, 30*time.Second, "agents 2 and 3 and the supernodes to provide", func() bool {
		got := providers()
		for _, m := range append(l.Agents[1:], l.Supernodes...) {
			if !got[m.ID()] {
				return false
			}
		}
		return true
	})
	if providers()[l.Agents[0].ID()] {
		t.Error("agent-01 opted out of providing but is listed as a provider")
	}
	// The vendor serves each supernode's own check, once; every agent's
	// fetch came from peers.
	if sent, _ := l.VendorBytes(); sent != int64(len(l.Supernodes))*l.ArtifactSize() {
		t.Errorf("the vendor served %d bytes, want only the %d supernodes' own checks of %d bytes each", sent, len(l.Supernodes), l.ArtifactSize())
	}
}

// Agents fetch the artifact from the supernodes whose co-signatures they
// accepted (each checked the artifact at the vendor and seeded it), with no
// provider record to find: every node opted out of providing, so the DHT
// lists nobody, and an agent that searched it alone fell back to the
// vendor URL after the search timeout.
func TestAgentsFetchFromCoSigners(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 2, Threshold: 2, ArtifactBytes: 3 << 20,
		Configure: func(_ string, cfg *node.Config) {
			cfg.Content.Provide = false
			cfg.Content.ProviderSearchTimeout = node.Duration(2 * time.Second)
		}})
	publishAndWait(t, l, "PNT-2026-0014")
	cosigners := map[peer.ID]bool{}
	for _, s := range l.Supernodes {
		cosigners[s.ID()] = true
	}
	for _, a := range l.Agents {
		e, _ := a.Status().Last(node.EventFetched)
		if e.Source != "peers" || len(e.From) == 0 {
			t.Errorf("%s fetched from %q (%s), want peers\n%s", a.Name, e.Source, e.Detail, describe(l))
		}
		for _, p := range e.From {
			if !cosigners[p] {
				t.Errorf("%s fetched from %s, not a co-signing supernode", a.Name, p)
			}
		}
	}
	if sent, _ := l.VendorBytes(); sent != int64(len(l.Supernodes))*l.ArtifactSize() {
		t.Errorf("the vendor served %d bytes, want only the %d supernodes' own checks of %d bytes each", sent, len(l.Supernodes), l.ArtifactSize())
	}
}

// Only one of the k=2 supernodes is up when the fix is published, so agents
// wait. A second supernode starts later: it catches up, finds the proposal,
// verifies and co-signs it on its own, and the agents install.
func TestLateSupernodeCatchesUpAndCoSigns(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 1, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0012", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "agents to wait with one co-signature", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventPending) })
		return len(no) == 0
	})
	late, err := l.AddSupernode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to install after the late co-signature", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	if !late.Status().Has(node.EventCoSigned) {
		t.Errorf("the late supernode did not co-sign:\n%s", describe(l))
	}
	for _, a := range l.Agents {
		if v := installedVersion(t, a); v != nodelab.NewVersion {
			t.Errorf("%s has %q, want %s", a.Name, v, nodelab.NewVersion)
		}
	}
}

// An announcement with a rollout spread is installed by each agent at its
// own stable slot within the spread, not at once: with an hour's spread the
// agents schedule their installs and install nothing yet.
func TestRolloutSpreadSchedulesInstalls(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 3, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0013", 1)
	if err != nil {
		t.Fatal(err)
	}
	fix.Patchnet.Rollout = &updates.Rollout{Spread: updates.Duration(time.Hour)}
	start := time.Now()
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to schedule its install", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventScheduled) })
		return len(no) == 0
	})
	slots := map[string]bool{}
	for _, a := range l.Agents {
		e, _ := a.Status().Last(node.EventScheduled)
		at, err := time.Parse(time.RFC3339, strings.Fields(strings.TrimPrefix(e.Detail, "installing at "))[0])
		if err != nil {
			t.Fatalf("%s: %q: %v", a.Name, e.Detail, err)
		}
		if at.Before(start.Add(-time.Second)) || at.After(start.Add(time.Hour+time.Second)) {
			t.Errorf("%s scheduled at %v, outside the hour after %v", a.Name, at, start)
		}
		slots[at.Format(time.RFC3339)] = true
		if a.Status().Has(node.EventInstalled) || installedVersion(t, a) != nodelab.OldVersion {
			t.Errorf("%s installed before its rollout slot", a.Name)
		}
	}
	if len(slots) < 2 {
		t.Errorf("all agents picked the same slot %v: no spread", slots)
	}
}

// publishAndWait publishes the lab's fix as id, version 1, and waits until
// every agent installed it or failed (the test checks which).
func publishAndWait(t *testing.T, l *nodelab.Lab, id string) *updates.Announcement {
	t.Helper()
	ctx := context.Background()
	fix, err := l.Fix(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to install", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) || s.Has(node.EventFailed) })
		return len(no) == 0
	})
	return fix
}

// A supernode's heartbeat names where it listens, and a node that verifies
// it keeps those addresses, so it can dial that supernode as a seed
// without asking a peer. The second heartbeat, signed with the
// supernode's key but published by another node, names an address nobody
// listens on: a node knows it only from that heartbeat.
func TestHeartbeatCarriesAddresses(t *testing.T) {
	l := startLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1, FakeInstaller: true,
		Configure: func(_ string, cfg *node.Config) { cfg.Heartbeat.Interval = node.Duration(200 * time.Millisecond) }})
	sn, agent := l.Supernodes[0], l.Agents[0]
	want := node.HeartbeatAddrs(sn.Overlay().Host().Addrs())
	waitFor(t, 10*time.Second, "the supernode's heartbeat with its addresses", func() bool {
		hbs := agent.Heartbeats()
		return len(hbs) > 0 && slices.Equal(hbs[0].Addrs, want) && len(want) > 0
	})

	planted := ma.StringCast("/ip4/192.0.2.7/udp/4001/quic-v1") // TEST-NET-1: never dialled
	creds, err := sn.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := node.SetDigest(nil)
	zone, err := l.ZoneRef()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(node.Heartbeat{Zone: zone.Name, Seq: uint64(now.UnixNano()) << 1, Time: now, Digest: digest, Addrs: []string{planted.String()}})
	env := trust.NewEnvelope(node.HeartbeatPayloadType, payload)
	if err := creds.Sign(env); err != nil {
		t.Fatal(err)
	}
	raw, _ := env.Marshal()
	if err := l.Publisher.Overlay().Publish(context.Background(), l.Publisher.Overlay().HeartbeatTopic(), raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the address from the heartbeat in the agent's peerstore", func() bool {
		return slices.ContainsFunc(agent.Overlay().Host().Peerstore().Addrs(sn.ID()), planted.Equal)
	})
}

package node_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
)

// Two organisations federate: every node pins our root and org B's. Org B
// runs a zone CA of the same name as ours. Its publisher's announcement,
// relayed into our zone, is refused, and its two supernodes' co-signatures
// of our own publisher's fix never count: our agents wait for a second
// co-signer of our zone. CRLs are not required here, so that only the zone
// binding stands between org B and our agents.
func TestRejectsZoneSquattingThroughFederation(t *testing.T) {
	orgB := trusttest.NewPKI(t, "demo")
	bRoot := filepath.Join(t.TempDir(), "org-b-root.crt")
	if err := os.WriteFile(bRoot, trust.EncodeCertificatesPEM(orgB.Root.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 1, Threshold: 2, Configure: func(_ string, cfg *node.Config) {
		cfg.Roots = append(cfg.Roots, bRoot)
		cfg.RequireCRL = false
	}})
	ctx := context.Background()
	pubB := orgB.Issue(t, "demo", trust.RolePublisher)
	snB1, snB2 := orgB.Issue(t, "demo", trust.RoleSupernode), orgB.Issue(t, "demo", trust.RoleSupernode)

	fix, err := l.Fix(ctx, "PNT-2026-0101", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every agent to hold our fix with our one co-signature", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return hasEvent2(s, node.EventPending, fix.ID) })
		return len(no) == 0
	})
	squat, err := l.Fix(ctx, "PNT-2026-0102", 1)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := squat.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ourPayload, err := fix.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	relay := orgBNode(t, l, orgB, bRoot) // org B's own node, joined to our zone: its validator trusts its zone
	rejectedBefore := rejectedCounts(l)
	for _, raw := range [][]byte{
		trusttest.Envelope(t, updates.PayloadType, payload, pubB, snB1, snB2),
		// Org B's node relays only what its own zone vouches for, so its
		// publisher signs our payload too.
		withSignatures(t, signWith(t, fix, l.Publisher), trusttest.Envelope(t, updates.PayloadType, ourPayload, pubB, snB1, snB2)),
	} {
		if err := relay.Overlay().Publish(ctx, relay.Overlay().AnnounceTopic(), raw); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "the other agent to reject both of org B's envelopes", func() bool {
		return rejectedCounts(l)[l.Agents[1].Name]-rejectedBefore[l.Agents[1].Name] >= 2
	})
	for _, a := range l.Agents {
		st := a.Status()
		if st.Has(node.EventAccepted) || st.Has(node.EventInstalled) {
			t.Errorf("%s accepted something signed by another organisation's zone of the same name:\n%s", a.Name, describe(l))
		}
		if e, _ := st.Last(node.EventPending); e.ID != fix.ID || len(e.Signers) != 1 {
			t.Errorf("%s pending %+v, want our fix with our one co-signer", a.Name, e)
		}
	}
}

// orgBNode runs a node of org B's zone "demo" (a publisher: it installs
// nothing) that pins both roots and bootstraps into our zone, as a
// federated partner's node does.
func orgBNode(t *testing.T, l *nodelab.Lab, orgB *trusttest.PKI, bRoot string) *node.Node {
	t.Helper()
	m := orgB.Issue(t, "demo", trust.RolePublisher)
	dir := t.TempDir()
	cfg := node.DefaultConfig()
	cfg.State, cfg.Zone, cfg.RequireCRL = dir, "demo", false
	cfg.Roots = []string{bRoot, l.RootCert}
	if err := trust.WriteKeyFile(filepath.Join(dir, "node.key"), m.Key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "node.crt"), trust.EncodeCertificatesPEM(m.Chain...), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Overlay.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	for _, m := range l.Members() { // a direct neighbour of every node: no honest relay forwards its envelopes
		for _, a := range m.Overlay().Addrs() {
			cfg.Overlay.BootstrapPeers = append(cfg.Overlay.BootstrapPeers, a.String())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; n.Close() })
	waitFor(t, 30*time.Second, "org B's node to see every agent on the announce topic", func() bool {
		peers := n.Overlay().TopicPeers(n.Overlay().AnnounceTopic())
		for _, a := range l.Agents {
			if !slices.Contains(peers, a.ID()) {
				return false
			}
		}
		return true
	})
	return n
}

func hasEvent2(s node.Status, kind node.EventKind, id string) bool {
	for _, e := range s.Events {
		if e.Kind == kind && e.ID == id {
			return true
		}
	}
	return false
}

// rejectedCounts is every agent's count of gossip messages its validator
// rejected.
func rejectedCounts(l *nodelab.Lab) map[string]uint64 {
	out := map[string]uint64{}
	for _, a := range l.Agents {
		out[a.Name] = a.Overlay().Stats().Rejected
	}
	return out
}

// withSignatures is the envelope raw with the signatures of other added.
func withSignatures(t *testing.T, raw, other []byte) []byte {
	t.Helper()
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	o, err := trust.ParseEnvelope(other)
	if err != nil {
		t.Fatal(err)
	}
	env.Signatures = append(env.Signatures, o.Signatures...)
	out, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Agents start without any CRL (an attacker cut them off, or they are new):
// k supernodes co-sign, and no agent counts a co-signature, let alone
// installs, while it cannot tell a revoked co-signer from a good one. Once
// the zone CA's and the root's CRLs reach them by gossip, the update waiting
// in the merge buffer is accepted and installed.
func TestNoCoSignatureCountsWithoutCRL(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2, Configure: func(_ string, cfg *node.Config) {
		cfg.CRL = nil // nobody holds a CRL to serve by catch-up either
	}})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0103", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to hold k co-signatures that do not count yet", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			e, ok := s.Last(node.EventPending)
			return ok && len(e.Signers) == 2 && strings.Contains(e.Detail, "wait for a current CRL")
		})
		return len(no) == 0
	})
	for _, a := range l.Agents {
		if a.Status().Has(node.EventAccepted) {
			t.Fatalf("%s accepted without any CRL:\n%s", a.Name, describe(l))
		}
	}
	for _, path := range l.CRLFiles() {
		crl, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Publisher.PublishCRL(ctx, crl); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "every agent to install once the CRLs arrived", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	for _, a := range l.Agents {
		recs, err := a.Updates()
		if err != nil || len(recs) != 1 || recs[0].State != node.StateInstalled || recs[0].Attempts != 1 {
			t.Errorf("%s lifecycle records %+v, %v; want one, installed after one fetch", a.Name, recs, err)
		}
	}
}

// A fresh agent started without CRL files gets the zone's CRLs from its
// neighbours by catch-up at start, and then counts co-signatures.
func TestFreshAgentGetsCRLsByCatchUp(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2, Configure: func(name string, cfg *node.Config) {
		if name == "agent-02" { // the late one
			cfg.CRL = nil
		}
	}})
	ctx := context.Background()
	late, err := l.AddAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			recs, err := late.Updates()
			t.Logf("events:\n%s\nthe late agent's records: %+v (%v)", describe(l), recs, err)
		}
	})
	waitFor(t, 30*time.Second, "the late agent to apply CRLs by catch-up", func() bool { return late.Status().Count[node.EventCRL] >= 1 })
	fix, err := l.Fix(ctx, "PNT-2026-0104", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the late agent to install", func() bool { return late.Status().Has(node.EventInstalled) })
}

// An update waits for its rollout time; meanwhile one of its k co-signers
// is revoked. Checked again immediately before the install transaction, it
// no longer has k co-signers that count: nothing is installed.
func TestRevokedWhileWaitingNotInstalled(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0105", 1)
	if err != nil {
		t.Fatal(err)
	}
	fix.Patchnet.Rollout = &updates.Rollout{NotBefore: time.Now().Add(8 * time.Second).UTC().Truncate(time.Second)}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every agent to schedule the install", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventScheduled) })
		return len(no) == 0
	})
	crl, err := l.Revoke(l.Supernodes[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publisher.PublishCRL(ctx, crl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to refuse the install at its time", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			e, ok := s.Last(node.EventRefusedInstall)
			return ok && strings.Contains(e.Detail, "revoked")
		})
		return len(no) == 0
	})
	for _, a := range l.Agents {
		if a.Status().Has(node.EventInstalled) || installedVersion(t, a) != nodelab.OldVersion {
			t.Errorf("%s installed an update whose co-signer was revoked while it waited:\n%s", a.Name, describe(l))
		}
	}
}

// A later announcement withdraws an update that agents scheduled: their
// pending installs are cancelled at once and reported, and nothing is
// installed when the rollout time comes.
func TestWithdrawnCancelsPendingInstall(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0106", 1)
	if err != nil {
		t.Fatal(err)
	}
	fix.Patchnet.Rollout = &updates.Rollout{NotBefore: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every agent to schedule the install", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventScheduled) })
		return len(no) == 0
	})
	withdrawal := *fix
	withdrawal.Patchnet.Version = 2
	withdrawal.Withdrawn = time.Now().UTC().Truncate(time.Second)
	if _, err := l.Publisher.Publish(ctx, &withdrawal); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every agent to cancel version 1 and report the withdrawal", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			return hasWithdrawn(s, 1) && hasWithdrawn(s, 2)
		})
		return len(no) == 0
	})
	for _, a := range l.Agents {
		if a.Status().Has(node.EventInstalled) {
			t.Errorf("%s installed a withdrawn update", a.Name)
		}
		recs, err := a.Updates()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ID == fix.ID && r.State != node.StateWithdrawn {
				t.Errorf("%s: version %d recorded as %s, want withdrawn", a.Name, r.Version, r.State)
			}
		}
		if len(recs) != 2 {
			t.Errorf("%s has %d lifecycle records, want versions 1 and 2", a.Name, len(recs))
		}
	}
}

func hasWithdrawn(s node.Status, version uint64) bool {
	for _, e := range s.Events {
		if e.Kind == node.EventWithdrawn && e.Version == version {
			return true
		}
	}
	return false
}

// An agent whose config pins no installer binary refuses to start (the
// default requires pins, as `patchnet init` writes them), and one whose pin
// does not match dpkg's digest installs nothing.
//
// It is of the real installer's pins, so it runs with dpkg whatever
// PATCHNET_FAKE_INSTALLER says (a RecordingInstaller runs no binary).
func TestAgentRefusesUnpinnedInstaller(t *testing.T) {
	requireDpkg(t)
	_, err := nodelab.New(context.Background(), nodelab.Options{Dir: t.TempDir(), Agents: 1, Supernodes: 1, Threshold: 1,
		Configure: func(name string, cfg *node.Config) { cfg.Install.ToolPins = nil }})
	if err == nil || !strings.Contains(err.Error(), "require_tool_pins") {
		t.Fatalf("a lab whose agent pins no installer started: %v", err)
	}

	l := newRealLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1, Configure: func(name string, cfg *node.Config) {
		pins := map[string]string{}
		for path, sum := range cfg.Install.ToolPins {
			pins[path] = sum
			if filepath.Base(path) == "dpkg" {
				pins[path] = strings.Repeat("0", 64) // dpkg replaced since it was pinned
			}
		}
		cfg.Install.ToolPins = pins
	}})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0107", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	agent := l.Agents[0]
	waitFor(t, 60*time.Second, "the agent to refuse the tampered dpkg", func() bool {
		e, ok := agent.Status().Last(node.EventFailed)
		return ok && strings.Contains(e.Detail, "pin")
	})
	if v := installedVersion(t, agent); v != nodelab.OldVersion {
		t.Errorf("installed %s through a dpkg that does not match its pin", v)
	}
}

// An agent with in_memory = true is restarted after installing version 5;
// version 4, fully co-signed, is refused afterwards: the rollback floor
// lives on disk whatever in_memory says.
func TestInMemoryAgentKeepsRollbackFloor(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	agent := l.Agents[0]
	fix, err := l.Fix(ctx, "PNT-2026-0108", 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the agent to install version 5", func() bool { return agent.Status().Has(node.EventInstalled) })
	if err := l.Restart(ctx, agent); err != nil {
		t.Fatal(err)
	}
	older := *fix
	older.Patchnet.Version = 4
	raw := signWith(t, &older, l.Publisher, l.Supernodes[0], l.Supernodes[1])
	if v := verdict(agent, raw); v.String() != "ignore" {
		t.Errorf("restarted in-memory agent's verdict on version 4: %v, want ignore (rollback)", v)
	}
}

// A peer of the zone re-encodes one accepted envelope endlessly. Copies
// that differ only in encoding (whitespace, field order, key id spelling)
// have the message ID of the original, so gossipsub drops them before any
// validation (TestMessageIDNamesContentNotEncoding, and the overlay's
// TestMessageIDFromDeps for the wiring). Copies that differ in what they
// carry but add nothing (signatures with or without their certificates,
// subsets of them) reach the agent's validator, which Ignores them within
// the sender's budget, verifying nothing, and Rejects them beyond it, so the
// sender's gossip score falls and gossipsub graylists it. None is relayed
// (Ignore and Reject both stop a message).
func TestReencodedEnvelopeFloodDropped(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 3, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0109", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	victim := l.Agents[0]
	waitFor(t, 60*time.Second, "the agent to accept", func() bool { return victim.Status().Has(node.EventAccepted) })
	honest := signWith(t, fix, l.Publisher, l.Supernodes[0], l.Supernodes[1], l.Supernodes[2])
	victim.ValidateMessage(ctx, victim.Overlay().AnnounceTopic(), "", honest) // whatever co-signature gossip has not brought yet
	variants := signatureVariants(t, honest)
	if len(variants) <= node.RedundantBurst {
		t.Fatalf("only %d variants: too few to exceed the budget of %d", len(variants), node.RedundantBurst)
	}
	// Peers no node of the lab is: a real node's own gossip to the victim
	// would spend part of the budget under test.
	attacker, other := randomPeer(t), randomPeer(t)
	verdicts := map[overlay.Verdict]int{}
	start := time.Now()
	for _, v := range variants {
		got, _ := victim.ValidateMessage(ctx, victim.Overlay().AnnounceTopic(), attacker, v)
		verdicts[got]++
	}
	// The budget refills at RedundantRate while the loop runs (slowly under
	// the race detector): allow for what the elapsed time refilled.
	refilled := int(time.Since(start).Seconds()*node.RedundantRate) + 1
	if ign := verdicts[overlay.Ignore]; verdicts[overlay.Accept] != 0 || ign < node.RedundantBurst || ign > node.RedundantBurst+refilled ||
		verdicts[overlay.Reject] != len(variants)-ign {
		t.Errorf("verdicts %v for %d copies that add nothing, want %d ignored (+%d refilled at most) then the rest rejected",
			verdicts, len(variants), node.RedundantBurst, refilled)
	}
	if got, _ := victim.ValidateMessage(ctx, victim.Overlay().AnnounceTopic(), other, variants[0]); got != overlay.Ignore {
		t.Errorf("an honest relay's copy was %v, want ignore", got)
	}
}

// signatureVariants are copies of raw that carry the same payload and
// signers but not the same signature set: every non-empty subset of its
// signatures, each signature with its whole chain, its leaf alone, or no
// certificate. Each verifies; none adds anything to a node that merged raw.
func signatureVariants(t *testing.T, raw []byte) [][]byte {
	t.Helper()
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	forms := func(s trust.Signature) []trust.Signature {
		leaf, none := s, s
		leaf.Certificates, none.Certificates = s.Certificates[:1], nil
		return []trust.Signature{s, leaf, none}
	}
	sets := [][]trust.Signature{{}}
	for _, s := range env.Signatures {
		var next [][]trust.Signature
		for _, set := range sets {
			next = append(next, set) // without s
			for _, f := range forms(s) {
				next = append(next, append(slices.Clone(set), f))
			}
		}
		sets = next
	}
	var out [][]byte
	for _, set := range sets[1:] { // sets[0] is empty
		v := trust.NewEnvelope(env.PayloadType, env.Payload)
		v.Signatures = set
		b, err := v.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// An attacker holds the publisher's key and announces malware served from
// its own host (and, through the publisher's node, from peers). Every
// supernode fetches the artifact itself from the vendor origins its
// [cosign] policy binds to that publisher, never from peers: the
// attacker's URL lies outside them, so none co-signs, the attacker's host
// is never asked, and no agent accepts or installs anything. The honest
// fix still goes through afterwards.
func TestStolenPublisherKeyInstallsNothing(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	malware, err := os.ReadFile(l.Debs[nodelab.OldVersion]) // stands in for malware: anything the vendor did not publish
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Write(malware)
	}))
	t.Cleanup(attacker.Close)
	fix, err := l.Fix(ctx, "PNT-2026-0110", 1)
	if err != nil {
		t.Fatal(err)
	}
	evil := conflicting(t, l, fix)
	evil.Patchnet.Artifact.URLs = []string{attacker.URL + "/hello-patchnet_2.0-1_all.deb"}
	if evil.Patchnet.Artifact.ContentID, err = l.Publisher.AddArtifact(ctx, l.Debs[nodelab.OldVersion]); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, evil); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Supernodes {
		waitFor(t, 30*time.Second, s.Name+" to refuse the malware", func() bool {
			e, ok := s.Status().Last(node.EventRefused)
			return ok && strings.Contains(e.Detail, "outside")
		})
		if s.Status().Has(node.EventCoSigned) {
			t.Errorf("%s co-signed bytes the vendor never published:\n%s", s.Name, describe(l))
		}
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the attacker's host was asked %d times", n)
	}
	fix.Patchnet.Version = 2
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every agent to install the honest fix", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventInstalled) })
		return len(no) == 0
	})
	for _, a := range l.Agents {
		if n := a.Status().Count[node.EventAccepted]; n != 1 {
			t.Errorf("%s accepted %d announcements, want only the honest one:\n%s", a.Name, n, describe(l))
		}
		if v := installedVersion(t, a); v != nodelab.NewVersion {
			t.Errorf("%s has %s", a.Name, v)
		}
	}
}

// Agents hear the supernodes' signed heartbeats; when every supernode is
// gone (for the agent: cut off, or the zone frozen), each agent raises the
// stale-heartbeat alarm within the maximum age, and clears it once the
// supernodes are back.
func TestCutOffAgentNoticesStaleHeartbeats(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2, Configure: func(_ string, cfg *node.Config) {
		// max_age is many intervals: a loaded CI machine (race detector,
		// two cores) can delay a heartbeat by a second, and the check below
		// that no alarm fires while heartbeats flow must not flake on it.
		cfg.Heartbeat = node.HeartbeatConfig{Interval: node.Duration(100 * time.Millisecond), MaxAge: node.Duration(3 * time.Second)}
	}})
	ctx := context.Background()
	waitFor(t, 30*time.Second, "every agent to hear both supernodes' heartbeats", func() bool {
		for _, a := range l.Agents {
			if len(a.Heartbeats()) < 2 {
				return false
			}
		}
		return true
	})
	for _, a := range l.Agents {
		if a.Status().Has(node.EventHeartbeatStale) {
			t.Fatalf("%s raised the stale alarm while hearing heartbeats:\n%s", a.Name, describe(l))
		}
	}
	for _, s := range l.Supernodes {
		if err := l.Stop(s); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "every agent to notice it hears no heartbeats", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool { return s.Has(node.EventHeartbeatStale) })
		return len(no) == 0
	})
	for _, s := range l.Supernodes {
		if err := l.Start(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "every agent to hear heartbeats again", func() bool {
		_, no := agentsWith(l, func(s node.Status) bool {
			e, ok := s.Last(node.EventHeartbeatOK)
			st, _ := s.Last(node.EventHeartbeatStale)
			return ok && e.At.After(st.At)
		})
		return len(no) == 0
	})
}

// randomPeer is the ID of a key no node holds.
func randomPeer(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/updates"
)

// byzantineEnv makes the test binary a byzantine node (TestE2EByzantineHelper):
// CONFIG,ENVELOPE.
const byzantineEnv = "PATCHNET_E2E_BYZANTINE"

// A supernode is taken over (its daemon stopped, its key and state used by
// the attacker's own program, which also holds the publisher's key): it
// co-signs a second payload for the fix's id and version — the old package
// passed off as the fix — and sends it on the zone's announce topic, before
// the honest fix is published. With k = 2 its co-signature alone never
// counts: every agent holds that payload pending, naming it as the only
// co-signer; the honest supernodes refuse to vouch for it (the vendor's
// origin serves other bytes). The honest fix is then published: the
// vulnerable agent installs it, and every agent quarantines the conflicting
// payload (held aside, never installable) and alerts, naming the byzantine
// supernode — caught signing both payloads, since the attacker's program,
// a supernode node, co-signs the honest fix too. Once a second supernode
// key is stolen, one that co-signed the honest fix, the conflicting payload
// would make k, but that supernode is caught signing both payloads in turn:
// its co-signature does not count, every agent names it, and nothing more
// is installed.
func TestE2EByzantineSupernode(t *testing.T) {
	e := newE2E(t)
	z := e.zone(map[string]string{"a1": "vulnerable", "a2": "without the package"})
	const id = "E2E-2026-0301"
	sn2, sn3 := e.peerID(z.supernodes[1]), e.peerID(z.supernodes[2])
	e.kill(z.supernodes[2], false)

	// The attacker's payload, signed with the stolen keys by `update sign`.
	evil := z.path("evil.json")
	e.run("update", "new", "--id", id, "--version", "1", "--ecosystem", "Debian:12", "--package", nodelab.PackageName,
		"--fixed", nodelab.NewVersion, "--summary", "hello-patchnet: fix the greeting", "--artifact", z.debs[nodelab.OldVersion],
		"--method", "dpkg", "--url", z.vendorURL, "--out", evil)
	e.run("update", "sign", "--key", z.path("pub", "node.key"), "--cert", z.path("pub", "node.crt"), evil, "--out", evil+".dsse")
	z.cosign("sn3", evil+".dsse")
	byz := z.byzantine(evil + ".dsse")
	for _, a := range []string{"a1", "a2"} {
		e.waitOutput(z.agents[a], "pending "+id+" v1: 1 of 2 supernode co-signatures")
	}
	for _, sn := range z.supernodes[:2] {
		e.waitLine(sn, "refused "+id+" v1", "checking the artifact at the vendor's origin")
	}
	if ev := lastEvent(e.status(z.path("a1")), node.EventPending, id); ev == nil || !slices.Equal(ev.Signers, []string{"CN=" + sn3 + ",OU=e2e"}) {
		t.Errorf("a1's pending event %+v does not name %s alone", ev, sn3)
	}

	z.publish(id)
	e.waitOutput(z.agents["a1"], "installed "+id+" v1")
	e.waitOutput(z.agents["a2"], "not-applied "+id+" v1: does not apply")
	for _, a := range []string{"a1", "a2"} {
		e.waitLine(z.agents[a], "conflicting-co-signature "+id+" v1", "quarantined", sn3)
		z.waitHeld(a, id, sn3, func(held *updates.Alert) bool {
			return named(held.Second.Signers, sn3) && named(held.Equivocators, sn3)
		})
	}
	if out := e.run("status", "--state", z.path("a1")); !strings.Contains(out, "conflicting co-signatures: 1 payload(s) held") ||
		!strings.Contains(out, id+" v1 quarantined") || !strings.Contains(out, sn3) {
		t.Errorf("patchnet status does not show the quarantined payload and %s:\n%s", sn3, out)
	}

	// A second supernode key stolen, one that co-signed the honest fix: the
	// conflicting payload has two co-signatures, each by a supernode that
	// signed both payloads, and neither counts.
	e.kill(byz, false)
	z.cosign("sn2", evil+".dsse")
	z.byzantine(evil + ".dsse")
	for _, a := range []string{"a1", "a2"} {
		z.waitHeld(a, id, sn2, func(held *updates.Alert) bool {
			return named(held.Second.Signers, sn2) && named(held.Equivocators, sn2) && named(held.Equivocators, sn3)
		})
		if out := z.agents[a].output(); strings.Contains(out, "equivocation quarantined") || strings.Count(out, "accepted "+id+" v1") != 1 {
			t.Errorf("%s counted a co-signature of a supernode that signed both payloads:\n%s", a, out)
		}
	}
	z.wantVersion("a1", nodelab.NewVersion)
	z.wantVersion("a2", "")
	if n := strings.Count(z.agents["a1"].output(), " installed "+id); n != 1 {
		t.Errorf("a1 installed %s %d times, want once:\n%s", id, n, z.agents["a1"].output())
	}
}

// waitHeld waits until agent's status (patchnet status --json) shows a
// conflicting payload about id held aside for which cond holds; who is the
// supernode the wait is about, for the failure message.
func (z *zone) waitHeld(agent, id, who string, cond func(*updates.Alert) bool) {
	z.e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := z.e.status(z.path(agent))
		for _, held := range st.Conflicts {
			if held.ID == id && !held.Contested && cond(&held) {
				return
			}
		}
		if time.Now().After(deadline) {
			z.e.t.Fatalf("%s's status never showed the conflicting payload of %s as wanted about %s: %+v", agent, id, who, st.Conflicts)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// named reports whether names holds a signer with peer ID id.
func named(names []string, id string) bool {
	return slices.ContainsFunc(names, func(s string) bool { return strings.Contains(s, id) })
}

// cosign adds sn's co-signature to the envelope file with `patchnet update
// sign`, which checks the signatures already there first.
func (z *zone) cosign(sn, envelope string) {
	z.e.run("update", "sign", "--key", z.path(sn, "node.key"), "--cert", z.path(sn, "node.crt"),
		"--root", z.e.path("root", "root.crt"), "--crl", z.path("zone", "zone.crl"), "--crl", z.e.path("root", "root.crl"),
		envelope, "--out", envelope)
}

// byzantine runs TestE2EByzantineHelper as sn3 (its config and state) in
// a process of its own, sending envelope on the announce topic.
func (z *zone) byzantine(envelope string) *proc {
	cmd := exec.Command(os.Args[0], "-test.run=^TestE2EByzantineHelper$", "-test.v")
	cmd.Env = append(os.Environ(), byzantineEnv+"="+z.path("sn3.toml")+","+envelope)
	p, _ := z.e.startCmd("byzantine sn3", cmd)
	z.e.waitOutput(p, "sent the envelope on the announce topic")
	return p
}

// lastEvent is st's newest event of kind about id, nil if none.
func lastEvent(st node.APIStatus, kind node.EventKind, id string) *node.APIEvent {
	for i := len(st.Events) - 1; i >= 0; i-- {
		if ev := st.Events[i]; ev.Kind == kind && ev.ID == id {
			return &ev
		}
	}
	return nil
}

// TestE2EByzantineHelper is no test of its own: TestE2EByzantineSupernode
// runs the test binary again with PATCHNET_E2E_BYZANTINE=CONFIG,ENVELOPE to
// be the attacker's program on a taken-over supernode. It runs a node from
// CONFIG and sends ENVELOPE as it is on the zone's announce topic — what
// no patchnet command does (publish offers an envelope to the supernodes,
// which check it) — then stays in the zone until SIGTERM.
func TestE2EByzantineHelper(t *testing.T) {
	spec := os.Getenv(byzantineEnv)
	if spec == "" {
		t.Skip("run by TestE2EByzantineSupernode as a process of its own")
	}
	config, envelope, _ := strings.Cut(spec, ",")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := node.LoadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(envelope)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	defer func() { stop(); <-done }()
	for _, a := range n.Overlay().Addrs() {
		fmt.Printf("listening on %s\n", a)
	}
	ov := n.Overlay()
	for len(ov.TopicPeers(ov.AnnounceTopic())) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("stopped before joining the announce topic")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := ov.Publish(ctx, ov.AnnounceTopic(), raw); err != nil {
		t.Fatal(err)
	}
	fmt.Println("sent the envelope on the announce topic")
	<-ctx.Done()
}

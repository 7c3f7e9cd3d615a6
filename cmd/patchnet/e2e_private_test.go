package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/node/nodelab"
)

// A private zone (acme: `patchnet init --private` wrote its pre-shared key,
// its own bootstrap peer) runs beside the public zone e2e under the same
// root. The public agent is also given the private zone's bootstrap peer
// and never gets in (no key); an outsider holding the leaked key but a
// certificate of e2e is dropped by admission, which names it. Each zone
// publishes its own fix, and each agent installs only its own zone's:
// neither ever lists a peer of the other zone.
func TestE2EPrivateZoneBesidePublic(t *testing.T) {
	e := newE2E(t)
	vulnerable := host{release: "debian12", version: nodelab.OldVersion}
	acme := e.newZone(zoneSpec{name: "acme", private: true, hosts: map[string]host{"p1": vulnerable}})
	pub := e.newZone(zoneSpec{hosts: map[string]host{"a1": vulnerable}, agentBootstrap: []string{acme.boot}})

	// The outsider: an agent certificate of e2e, the acme key, acme's
	// bootstrap peer.
	e.run("cert", "request", "--role", "agent", "--zone", "e2e", "--out", pub.path("spy"))
	e.run("ca", "sign", "--ca", pub.path("zone"), pub.path("spy", "node.csr"))
	if err := e.sysroot(pub.path("spy"), vulnerable); err != nil {
		t.Fatal(err)
	}
	spy, _ := e.start("spy", "agent", "--config", pub.config("spy", "agent", "--sysroot", pub.path("spy", "root"),
		"--bootstrap", acme.boot, "--psk-file", acme.psk))
	spyID := e.peerID(spy)
	e.waitLine(acme.supernodes[0], "dropping peer from private zone", spyID, `certificate of zone \"e2e\" in private zone \"acme\"`)

	pub.publish("E2E-2026-0201")
	acme.publish("E2E-2026-0202")
	e.waitOutput(pub.agents["a1"], "installed E2E-2026-0201 v1")
	e.waitOutput(acme.agents["p1"], "installed E2E-2026-0202 v1")
	pub.wantVersion("a1", nodelab.NewVersion)
	acme.wantVersion("p1", nodelab.NewVersion)

	ids := func(z *zone, extra ...*proc) map[string]bool {
		out := map[string]bool{}
		for _, p := range append(append(z.supernodes, extra...), slices.Collect(maps.Values(z.agents))...) {
			out[e.peerID(p)] = true
		}
		return out
	}
	zones := []struct {
		z          *zone
		agent      string
		own, other string
		others     map[string]bool
	}{
		{pub, "a1", "E2E-2026-0201", "E2E-2026-0202", ids(acme)},
		{acme, "p1", "E2E-2026-0202", "E2E-2026-0201", ids(pub, spy)},
	}
	for _, c := range zones {
		st := e.status(c.z.path(c.agent))
		if len(st.Peers) == 0 {
			t.Errorf("%s has no peers", c.agent)
		}
		for _, p := range st.Peers {
			if c.others[p.ID] {
				t.Errorf("%s of zone %s is connected to %s (%s) of the other zone", c.agent, c.z.name, p.ID, p.Role)
			}
		}
		for _, u := range st.Updates {
			if u.ID == c.other {
				t.Errorf("%s of zone %s holds the other zone's update %s (%s)", c.agent, c.z.name, u.ID, u.State)
			}
		}
		if out := c.z.agents[c.agent].output(); strings.Contains(out, c.other) {
			t.Errorf("%s of zone %s saw the other zone's %s:\n%s", c.agent, c.z.name, c.other, out)
		}
	}
	// The public agent tried acme's bootstrap peer and never got in.
	st := e.status(pub.path("a1"))
	for _, b := range st.Bootstrap {
		if b.Addr == acme.boot && b.Connected {
			t.Errorf("a1 is connected to acme's bootstrap peer %s", b.Addr)
		}
	}
	if out := spy.output(); strings.Contains(out, "E2E-2026-020") {
		t.Errorf("the outsider saw an update:\n%s", out)
	}
	e.waitLine(pub.agents["a1"], "cannot reach bootstrap peer", e.peerID(acme.supernodes[0]))
}

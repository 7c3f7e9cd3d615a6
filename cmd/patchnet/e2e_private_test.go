package main

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/node/nodelab"
)

// A private zone (acme: `patchnet init --private` wrote its pre-shared key,
// its own bootstrap peer) runs beside the public zone e2e under the same
// root. The public agent is also given the private zone's bootstrap peer
// and never gets in (it lacks the key). A former member of acme, its
// certificate revoked but the key kept, is dropped by admission, which
// names it. Each zone publishes its own fix, and each agent installs only
// its own zone's: neither ever lists a peer of the other zone.
func TestE2EPrivateZoneBesidePublic(t *testing.T) {
	e := newE2E(t)
	vulnerable := host{release: "debian12", version: nodelab.OldVersion}
	acme := e.newZone(zoneSpec{name: "acme", private: true, hosts: map[string]host{"p1": vulnerable},
		beforeStart: func(z *zone) {
			// The former member's host still has the CRL of before its
			// revocation; the zone's nodes start with the new one.
			e.run("cert", "request", "--role", "agent", "--zone", "acme", "--out", z.path("former"))
			e.run("ca", "sign", "--ca", z.path("zone"), z.path("former", "node.csr"))
			crl, err := os.ReadFile(z.path("zone", "zone.crl"))
			if err == nil {
				err = os.WriteFile(z.path("former", "zone.crl"), crl, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			e.run("ca", "revoke", "--ca", z.path("zone"), "--reason", "cessationOfOperation", z.path("former", "node.crt"))
			e.run("ca", "crl", "--ca", z.path("zone"))
		}})
	pub := e.newZone(zoneSpec{hosts: map[string]host{"a1": vulnerable}, agentBootstrap: []string{acme.boot}})

	if err := e.sysroot(acme.path("former"), vulnerable); err != nil {
		t.Fatal(err)
	}
	e.run("init", "agent", "--out", acme.path("former.toml"), "--state", acme.path("former"), "--sysroot", acme.path("former", "root"),
		"--root", e.path("root", "root.crt"), "--crl", acme.path("former", "zone.crl"), "--crl", e.path("root", "root.crl"),
		"--zone", "acme", "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", acme.boot, "--psk-file", acme.psk)
	former, _ := e.start("acme/former", "agent", "--config", acme.path("former.toml"))
	formerID := e.peerID(former)
	e.waitLine(acme.supernodes[0], "dropping peer from private zone", formerID, "revoked by zone CA acme")

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
		{acme, "p1", "E2E-2026-0202", "E2E-2026-0201", ids(pub)},
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
	if out := former.output(); strings.Contains(out, "E2E-2026-020") {
		t.Errorf("the revoked former member saw an update:\n%s", out)
	}
	for _, p := range e.status(acme.path("p1")).Peers {
		if p.ID == formerID {
			t.Errorf("p1 is connected to the revoked former member %s", p.ID)
		}
	}
	e.waitLine(pub.agents["a1"], "cannot reach bootstrap peer", e.peerID(acme.supernodes[0]))
}

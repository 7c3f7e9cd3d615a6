package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/internal/netns"
	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
)

// nsZone is a zone of patchnet processes, each in its own network
// namespace on one bridge, with the vendor's origin in the hub.
type nsZone struct {
	t      *testing.T
	ctx    context.Context
	net    *netns.Network
	kit    *zonekit.Kit
	procs  map[string]*zonekit.Proc
	boot   string
	debs   map[string]string
	vendor string // the fix's URL
}

// newNSZone starts supernodes sn1, sn2 (k = 2) and the given agents, each
// with the lab package at the vulnerable version, all with heartbeats
// every interval.
func newNSZone(t *testing.T, interval time.Duration, agents ...string) *nsZone {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("no network namespaces here: %v", err)
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	bin, err := patchnetBin()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	nw, err := netns.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Error(err)
		}
	})
	z := &nsZone{t: t, ctx: ctx, net: nw, procs: map[string]*zonekit.Proc{},
		kit: &zonekit.Kit{Bin: bin, Dir: t.TempDir(), Zone: "e2e", Threshold: 2}}
	t.Cleanup(z.stop)
	roles := map[string]string{"sn1": "supernode", "sn2": "supernode", "pub": "publisher"}
	for _, a := range agents {
		roles[a] = "agent"
	}
	z.must(z.kit.PKI(ctx, roles))
	z.debs, err = nodelab.BuildDebs(ctx, z.kit.Path("debs"))
	z.must(err)
	ln, err := nw.ListenHub("tcp", nw.HubAddr().String()+":0")
	z.must(err)
	v, err := zonekit.NewVendor(ln, z.kit.Path("vendor.asc"))
	z.must(err)
	t.Cleanup(func() { v.Close() })
	z.vendor, err = v.Add(z.debs[nodelab.NewVersion])
	z.must(err)
	cosign := []string{"--vendor-origin", v.URL, "--vendor-key", v.KeyFile}
	z.start("sn1", "supernode", interval, cosign...)
	z.start("sn2", "supernode", interval, append(cosign, "--bootstrap", z.boot)...)
	for _, a := range agents {
		z.must(nodelab.MakeSandbox(ctx, z.kit.Path(a), z.kit.Path(a, "root"), z.debs[nodelab.OldVersion]))
		z.start(a, "agent", interval, "--sysroot", z.kit.Path(a, "root"), "--bootstrap", z.boot)
	}
	z.config("pub", "publisher", interval, "--bootstrap", z.boot)
	return z
}

func (z *nsZone) must(err error) {
	z.t.Helper()
	if err != nil {
		z.t.Fatal(err)
	}
}

// config adds name's namespace and writes its config with fast heartbeats.
func (z *nsZone) config(name, role string, interval time.Duration, extra ...string) (*netns.Node, string) {
	z.t.Helper()
	nd, err := z.net.AddNode(z.ctx, name, 0)
	z.must(err)
	path, err := z.kit.Config(z.ctx, name, role, "/ip4/"+nd.Addr.String()+"/tcp/0", extra...)
	z.must(err)
	keys := zonekit.Fast(interval)
	z.must(zonekit.SetKeys(path, keys))
	return nd, path
}

// start starts a daemon in its own namespace; the first one's address is
// the zone's bootstrap peer.
func (z *nsZone) start(name, role string, interval time.Duration, extra ...string) {
	z.t.Helper()
	nd, path := z.config(name, role, interval, extra...)
	p, addr, err := zonekit.Start(z.ctx, name, nd.Command(z.ctx, z.kit.Bin, role, "--config", path))
	z.must(err)
	z.procs[name] = p
	if z.boot == "" {
		z.boot = addr
	}
}

func (z *nsZone) stop() {
	for _, p := range z.procs {
		p.Stop(30 * time.Second)
	}
}

// publish authors and publishes a fix of the lab package from the
// publisher's namespace.
func (z *nsZone) publish(id string) string {
	z.t.Helper()
	deb := z.debs[nodelab.NewVersion]
	fix, err := z.kit.NewUpdate(z.ctx, zonekit.Update{ID: id, Ecosystem: "Debian:12", Package: nodelab.PackageName,
		Fixed: nodelab.NewVersion, Artifact: deb, Method: "dpkg", URL: z.vendor})
	z.must(err)
	out, err := z.kit.Publish(z.ctx, z.net.Node("pub").Command, fix, deb, z.kit.Path("pub.toml"), 90*time.Second)
	z.must(err)
	return out
}

// status is name's `patchnet status --json`, over its API socket.
func (z *nsZone) status(name string) node.APIStatus {
	z.t.Helper()
	out, err := z.kit.Run(z.ctx, "status", "--state", z.kit.Path(name), "--json")
	z.must(err)
	var st node.APIStatus
	z.must(json.Unmarshal([]byte(out), &st))
	return st
}

// waitStatus polls name's status until ok holds.
func (z *nsZone) waitStatus(name, what string, ok func(node.APIStatus) bool) node.APIStatus {
	z.t.Helper()
	for {
		st := z.status(name)
		if ok(st) {
			return st
		}
		select {
		case <-z.ctx.Done():
			z.t.Fatalf("%s never %s; last status %+v\nlog:\n%s", name, what, st, z.procs[name].Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lastEventAt is the time of the newest event of kind in st (zero if none).
func lastEventAt(st node.APIStatus, kind node.EventKind) time.Time {
	var at time.Time
	for _, e := range st.Events {
		if e.Kind == kind && e.At.After(at) {
			at = e.At
		}
	}
	return at
}

// Issue 9: one agent is cut off — its own network namespace, whose link
// the test takes down. Its heartbeat alarm fires (status and log show
// heartbeat-stale) while the update published meanwhile reaches the other
// agent; once the link is up again the alarm clears and catch-up installs
// what it missed.
func TestE2ECutOffAgentAlarmsAndCatchesUp(t *testing.T) {
	const interval = time.Second
	z := newNSZone(t, interval, "cut", "kept")
	// Before the cut the agent hears heartbeats (with no updates in the
	// zone, every message delivered to it is one: two rounds from both
	// supernodes) and has no alarm up, so the alarm that follows is the
	// cut's.
	z.waitStatus("cut", "heard heartbeats without alarm", func(st node.APIStatus) bool {
		return st.Overlay["delivered"] >= 4 && st.EventCounts[node.EventHeartbeatStale] == st.EventCounts[node.EventHeartbeatOK]
	})
	cutAt := time.Now()
	z.must(z.net.Node("cut").Down(z.ctx))
	st := z.waitStatus("cut", "raised the heartbeat alarm", func(st node.APIStatus) bool {
		return lastEventAt(st, node.EventHeartbeatStale).After(cutAt)
	})
	t.Logf("alarm %v after the cut (heartbeat interval %v, max age %v)", lastEventAt(st, node.EventHeartbeatStale).Sub(cutAt), interval, 2*interval)
	z.must(z.procs["cut"].WaitOutput(z.ctx, "kind=heartbeat-stale"))

	out := z.publish("E2E-2026-0009")
	if !strings.Contains(out, "supernode(s) co-signed") {
		t.Fatalf("publish did not report k co-signatures:\n%s", out)
	}
	z.must(z.procs["kept"].WaitOutput(z.ctx, "installed E2E-2026-0009 v1"))
	if strings.Contains(z.procs["cut"].Output(), "E2E-2026-0009") {
		t.Fatalf("the cut-off agent heard of the update while its link was down:\n%s", z.procs["cut"].Output())
	}

	upAt := time.Now()
	z.must(z.net.Node("cut").Up(z.ctx))
	z.must(z.procs["cut"].WaitOutput(z.ctx, "installed E2E-2026-0009 v1"))
	z.waitStatus("cut", "cleared the alarm", func(st node.APIStatus) bool {
		return lastEventAt(st, node.EventHeartbeatOK).After(upAt)
	})
	if v, err := nodelab.InstalledVersion(z.ctx, z.kit.Path("cut", "root")); err != nil || v != nodelab.NewVersion {
		t.Errorf("the cut-off agent has %q, %v after catching up; want %q", v, err, nodelab.NewVersion)
	}
}

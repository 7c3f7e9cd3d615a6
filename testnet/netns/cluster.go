package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/patchnet/patchnet/internal/netns"
	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
)

// cluster is a run's zone: every process in its own namespace, the
// vendor's origin in one more ("origin"), all on one bridge.
type cluster struct {
	p        testnet.Params
	progress testnet.Progress
	dir      string
	net      *netns.Network
	kit      *zonekit.Kit
	vendor   *zonekit.Vendor
	procs    map[string]*zonekit.Proc
	boot     string
	agents   []string
	// releases are what the zone's own publisher published (released);
	// scenarios record them before they publish, in their own goroutine.
	releases []testnet.Release
	// seeded is what the runs of `patchnet publish` served as seeder,
	// from the line each prints when it exits.
	seeded atomic.Int64
	// publishCPU is the CPU time the runs of `patchnet publish` used, in
	// nanoseconds, from each one's rusage once it exited.
	publishCPU atomic.Int64
}

// newCluster makes the network, the PKI for the supernodes sn1…snS, the
// publisher pub and the given agents, and the vendor's origin. The caller
// must close it, on error too.
func newCluster(ctx context.Context, p testnet.Params, progress testnet.Progress, agents []string) (*cluster, error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	c := &cluster{p: p, progress: progress, procs: map[string]*zonekit.Proc{}, agents: agents}
	var err error
	if c.dir, err = os.MkdirTemp("", "patchnet-netns-"); err != nil {
		return c, fmt.Errorf("making the run directory: %w", err)
	}
	bin, err := zonekit.Binary(ctx, c.dir)
	if err != nil {
		return c, err
	}
	c.kit = &zonekit.Kit{Bin: bin, Dir: c.dir, Zone: "testnet", Threshold: p.Threshold}
	if c.net, err = netns.New(ctx); err != nil {
		return c, err
	}
	roles := map[string]string{"pub": "publisher"}
	for _, s := range c.supernodes() {
		roles[s] = "supernode"
	}
	for _, a := range agents {
		roles[a] = "agent"
	}
	progress("pki", 0, len(roles))
	if err := c.kit.PKI(ctx, roles); err != nil {
		return c, err
	}
	progress("pki", len(roles), len(roles))
	originRate := p.OriginBandwidth
	if originRate == 0 {
		originRate = p.Bandwidth
	}
	origin, err := c.addNode(ctx, "origin", originRate)
	if err != nil {
		return c, err
	}
	ln, err := origin.Listen("tcp", origin.Addr.String()+":0")
	if err != nil {
		return c, err
	}
	if c.vendor, err = zonekit.NewVendor(ln, c.kit.Path("vendor.asc")); err != nil {
		ln.Close()
		return c, err
	}
	return c, nil
}

// addNode adds a namespace with the run's link: rate, and Params.Latency
// and Params.Loss on everything it receives.
func (c *cluster) addNode(ctx context.Context, name string, rate int64) (*netns.Node, error) {
	nd, err := c.net.AddNode(ctx, name, rate)
	if err != nil {
		return nd, err
	}
	if c.p.Loss > 0 {
		if err := nd.SetLoss(ctx, c.p.Loss); err != nil {
			return nd, err
		}
	}
	if c.p.Latency == 0 && c.p.Jitter == 0 {
		return nd, nil
	}
	return nd, nd.SetLatency(ctx, c.p.Latency, c.p.Jitter)
}

// supernodes are the supernodes' names.
func (c *cluster) supernodes() []string {
	var out []string
	for i := range c.p.Supernodes {
		out = append(out, fmt.Sprintf("sn%d", i+1))
	}
	return out
}

// startSupernodes starts the supernodes, the first being every node's
// bootstrap peer, and writes the publisher's config.
func (c *cluster) startSupernodes(ctx context.Context) error {
	cosign := []string{"--vendor-origin", c.vendor.URL, "--vendor-key", c.vendor.KeyFile}
	for i, s := range c.supernodes() {
		c.progress("starting supernodes", i, c.p.Supernodes)
		extra := slices.Clone(cosign)
		if c.boot != "" {
			extra = append(extra, "--bootstrap", c.boot)
		}
		if err := c.start(ctx, s, "supernode", nil, extra...); err != nil {
			return err
		}
	}
	c.progress("starting supernodes", c.p.Supernodes, c.p.Supernodes)
	var boots []string
	for _, p := range c.procs {
		boots = append(boots, "--bootstrap", p.Addr)
	}
	_, _, err := c.configure(ctx, "pub", "publisher", nil, boots...)
	return err
}

// settle waits until every daemon has a peer in its DHT routing table and
// is connected to min(SettlePeers, the others) peers: a publisher joining
// a zone that has not formed yet finds no peer to provide to. A zone that
// has not formed within Params.Timeout is an error naming who lacks peers.
func (c *cluster) settle(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.p.Timeout)
	defer cancel()
	want := min(SettlePeers, len(c.procs)-1)
	err := c.waitAll(ctx, slices.Sorted(maps.Keys(c.procs)), "settling", func(st *node.APIStatus) bool {
		return st.PeersTotal >= want && (st.DHT == nil || st.DHT.RoutingTable > 0)
	})
	if err != nil {
		return fmt.Errorf("waiting for the zone to form: %w", err)
	}
	return nil
}

// configure adds name's namespace and writes its config with the run's
// heartbeat and the keys given.
func (c *cluster) configure(ctx context.Context, name, role string, keys map[string]string, extra ...string) (*netns.Node, string, error) {
	rate := c.p.Bandwidth
	if name == "pub" && c.p.OriginBandwidth > 0 {
		rate = c.p.OriginBandwidth // the publisher seeds the artifact: an origin too
	}
	nd, err := c.addNode(ctx, name, rate)
	if err != nil {
		return nil, "", err
	}
	path, err := c.kit.Config(ctx, name, role, "/ip4/"+nd.Addr.String()+"/tcp/0", extra...)
	if err != nil {
		return nil, "", err
	}
	all := zonekit.Fast(HeartbeatInterval)
	for k, v := range keys {
		all[k] = v
	}
	return nd, path, zonekit.SetKeys(path, all)
}

// start configures and starts a daemon in its own namespace.
func (c *cluster) start(ctx context.Context, name, role string, keys map[string]string, extra ...string) error {
	nd, path, err := c.configure(ctx, name, role, keys, extra...)
	if err != nil {
		return err
	}
	return c.launch(ctx, nd, name, role, path)
}

// launch starts daemon name of role with its config at path in nd's
// namespace and waits until it listens.
func (c *cluster) launch(ctx context.Context, nd *netns.Node, name, role, path string) error {
	sctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	// The daemon must outlive sctx: its command gets the run's ctx.
	p, addr, err := zonekit.Start(sctx, name, nd.Command(ctx, c.kit.Bin, role, "--config", path))
	if err != nil {
		return err
	}
	c.procs[name] = p
	if c.boot == "" {
		c.boot = addr
	}
	return nil
}

// kill SIGKILLs daemon name (no shutdown: a crash or a power cut) and
// forgets it; its namespace, config and state stay for restart.
func (c *cluster) kill(name string) {
	if p := c.procs[name]; p != nil {
		p.Kill()
		delete(c.procs, name)
	}
}

// restart starts agent name again on the state and config it had.
func (c *cluster) restart(ctx context.Context, name string) error {
	return c.launch(ctx, c.net.Node(name), name, "agent", c.kit.Path(name+".toml"))
}

// startAgent starts agent name on sysroot with extra config keys.
func (c *cluster) startAgent(ctx context.Context, name, sysroot string, keys map[string]string) error {
	return c.start(ctx, name, "agent", keys, "--sysroot", sysroot, "--bootstrap", c.boot)
}

// publish authors u and publishes it from the publisher's namespace; it
// returns when publish printed that it sent the announcement (the
// publication time every delay is measured from) and a channel that
// yields publish's outcome once it exits.
func (c *cluster) publish(ctx context.Context, u zonekit.Update) (time.Time, <-chan error, error) {
	u.RolloutSpread = c.p.RolloutSpread
	fix, err := c.kit.NewUpdate(ctx, u)
	if err != nil {
		return time.Time{}, nil, err
	}
	cmd := c.net.Node("pub").Command(ctx, c.kit.Bin, "publish", fix, "--artifact", u.Artifact,
		"--config", c.kit.Path("pub.toml"), "--wait", c.p.Timeout.String())
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return time.Time{}, nil, fmt.Errorf("starting publish: %w", err)
	}
	published := make(chan time.Time, 1)
	var out strings.Builder
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			countSeeded(sc.Text(), &c.seeded)
			if strings.HasPrefix(sc.Text(), "published ") {
				select {
				case published <- time.Now():
				default:
				}
			}
			out.WriteString(sc.Text() + "\n")
		}
		io.Copy(io.Discard, r) // a line too long for the scanner must not block publish
	}()
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		c.publishCPU.Add(int64(cpuTime(cmd.ProcessState)))
		w.Close()
		<-lines
		if err != nil {
			err = fmt.Errorf("publishing %s: %w\n%s", u.ID, err, out.String())
		}
		done <- err
	}()
	select {
	case t := <-published:
		return t, done, nil
	case err := <-done:
		return time.Time{}, nil, errors.Join(err, fmt.Errorf("publish of %s exited before publishing", u.ID))
	}
}

// close stops every daemon, deletes the namespaces and the run directory.
func (c *cluster) close() error {
	var errs []error
	for _, p := range c.procs {
		p.Stop(StopGrace)
	}
	if c.vendor != nil {
		c.vendor.Close()
	}
	if c.net != nil {
		errs = append(errs, c.net.Close())
	}
	if c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// timeline is one agent's events for one update.
type timeline struct {
	state node.State
	first time.Time // when the update first reached the node (receipt): its first event's arrival
	at    map[node.EventKind]time.Time
	err   string // the record's detail when it did not install
}

// waitFinal polls the agents' local APIs until each has a final record
// for id (or ctx ends), and returns their timelines by name.
func (c *cluster) waitFinal(ctx context.Context, id string, agents []string) (map[string]*timeline, error) {
	return c.waitFinalSince(ctx, id, agents, time.Time{})
}

// waitFinalSince is waitFinal leaving out the events of id that arrived
// before from: they belong to another payload of the same id (a
// conflicting one gossiped earlier).
func (c *cluster) waitFinalSince(ctx context.Context, id string, agents []string, from time.Time) (map[string]*timeline, error) {
	out := map[string]*timeline{}
	err := c.waitEach(ctx, agents, "final "+id, func(a string, st *node.APIStatus) bool {
		out[a] = timelineOf(st, id, from)
		return out[a].state.Final()
	})
	return out, err
}

// status reads daemon name's status from its local API, dialling it
// once.
func (c *cluster) status(ctx context.Context, clients map[string]*node.APIClient, name string) (*node.APIStatus, error) {
	cl := clients[name]
	if cl == nil {
		var err error
		if cl, err = node.DialAPI(ctx, c.kit.Path(name)); err != nil {
			return nil, fmt.Errorf("reading %s's status: %w", name, err)
		}
		clients[name] = cl
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s's status: %w", name, err)
	}
	return st, nil
}

// timelineOf is an agent's record and events of id in its status, those
// that arrived before from left out.
func timelineOf(st *node.APIStatus, id string, from time.Time) *timeline {
	tl := &timeline{at: map[node.EventKind]time.Time{}}
	for _, u := range st.Updates {
		if u.ID == id {
			tl.state, tl.err = u.State, u.Detail
		}
	}
	for _, e := range st.Events {
		if e.ID != id || e.Arrived().Before(from) {
			continue
		}
		if tl.first.IsZero() || e.Arrived().Before(tl.first) {
			tl.first = e.Arrived()
		}
		if _, ok := tl.at[e.Kind]; !ok {
			tl.at[e.Kind] = e.At
		}
	}
	return tl
}

// cpuTime is the user and system CPU time of an exited process (0 if
// unknown).
func cpuTime(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

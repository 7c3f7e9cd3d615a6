package netns

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
)

// flood: two peers outside the zone's PKI (`patchnet testnet flood`, in a
// namespace of their own) join the announce topic next to a few agents.
// The forger sends forged announcements from before publication on:
// junk, envelopes signed under an impostor root, and, once the fix is
// out, the fix tampered with. The replayer waits for the co-signed fix
// and sends it again in every shape that adds nothing, past the agents'
// budget for such copies. Every agent must still install the fix, drop
// the flood, and accept nothing else; the agents next to the flooders
// must score both below the graylist threshold and disconnect them.
func flood(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	agents := agentNames(p.Nodes)
	var pk packages
	return withCluster(ctx, p, progress, agents, fixSetup(p, agents, &pk), func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		targets := agents[:min(testnet.FloodTargets, len(agents))]
		before, err := c.dropped(ctx, agents)
		if err != nil {
			return nil, err
		}
		fl, err := c.startFlooder(ctx, targets)
		if err != nil {
			return nil, err
		}
		defer fl.Stop(StopGrace)
		rep := fixReport(p, c, setupTime, pk.fix)
		werr := c.publishAndWait(ctx, rep, pk.fix, agents)
		if err := fl.WaitOutput(ctx, "sent "); err != nil {
			return rep, errors.Join(werr, err)
		}
		return rep, errors.Join(werr, c.judgeFlood(ctx, rep, fl, before, agents, targets))
	})
}

// startFlooder starts `patchnet testnet flood` in namespace "flooder"
// next to targets and waits until it is ready to flood.
func (c *cluster) startFlooder(ctx context.Context, targets []string) (*zonekit.Proc, error) {
	nd, err := c.addNode(ctx, "flooder", c.p.Bandwidth)
	if err != nil {
		return nil, err
	}
	args := []string{"testnet", "flood", "--zone", c.kit.Zone, "--listen", "/ip4/" + nd.Addr.String() + "/tcp/0",
		"--wait", c.p.Timeout.String()}
	for _, t := range targets {
		args = append(args, "--peer", c.procs[t].Addr)
	}
	sctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	fl, _, err := zonekit.Start(sctx, "flooder", nd.Command(ctx, c.kit.Bin, args...))
	if err != nil {
		return nil, err
	}
	if err := fl.WaitOutput(sctx, "ready"); err != nil {
		fl.Stop(StopGrace)
		return nil, err
	}
	return fl, nil
}

// judgeFlood fills the flood's checks once the flooder sent everything.
func (c *cluster) judgeFlood(ctx context.Context, rep *testnet.Report, fl *zonekit.Proc, before uint64, agents, targets []string) error {
	forger, replayer, forged, replayed, err := floodOutput(fl)
	if err != nil {
		return err
	}
	c.progress(fmt.Sprintf("flooded: %d forgeries, %d replays", forged, replayed), 1, 1)
	rep.Checks["replays_sent"] = replayed > 0
	after, err := c.dropped(ctx, agents)
	if err != nil {
		return err
	}
	rep.Checks["forgeries_dropped"] = after > before
	for check, id := range map[string]string{"forger_dropped": forger, "replayer_dropped": replayer} {
		wctx, cancel := context.WithTimeout(ctx, FloodDropWait)
		rep.Checks[check] = c.waitAll(wctx, targets, check, notConnectedTo(id)) == nil
		cancel()
	}
	only, err := c.countWith(ctx, agents, onlyRecordsOf(propID))
	rep.Checks["nothing_else_accepted"] = only == len(agents)
	return err
}

var (
	forgerRE = regexp.MustCompile(`(?m)^forger (\S+)$`)
	sentRE   = regexp.MustCompile(`(?m)^sent (\d+) forgeries and (\d+) replays$`)
)

// floodOutput reads the flooders' peer IDs and what they sent from the
// flooder's output.
func floodOutput(fl *zonekit.Proc) (forger, replayer string, forged, replayed int, err error) {
	out := fl.Output()
	f, s := forgerRE.FindStringSubmatch(out), sentRE.FindStringSubmatch(out)
	_, rid, ok := strings.Cut(fl.Addr, "/p2p/")
	if f == nil || s == nil || !ok {
		return "", "", 0, 0, fmt.Errorf("reading the flooder's output: no forger ID, replayer address or counts in:\n%s", out)
	}
	forged, _ = strconv.Atoi(s[1])
	replayed, _ = strconv.Atoi(s[2])
	return f[1], rid, forged, replayed, nil
}

// dropped sums the gossip messages the named agents dropped: rejected or
// ignored by validation, or before it (bad signature, full queue,
// throttled).
func (c *cluster) dropped(ctx context.Context, names []string) (uint64, error) {
	return c.overlayCounter(ctx, names, "rejected", "ignored", "bad_signature", "queue_full", "throttled")
}

// notConnectedTo holds when the status does not list peer id among the
// connected peers. The flooders stay connected until stopped: a target
// that no longer lists one dropped it.
func notConnectedTo(id string) condition {
	return func(st *node.APIStatus) bool {
		return st.PeersTotal <= len(st.Peers) && !slices.ContainsFunc(st.Peers, func(p node.APIPeer) bool { return p.ID == id })
	}
}

// onlyRecordsOf holds when every update the agent holds a record of is id.
func onlyRecordsOf(id string) condition {
	return func(st *node.APIStatus) bool {
		return !slices.ContainsFunc(st.Updates, func(u node.APIUpdate) bool { return u.ID != id })
	}
}

package netns

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// stolenID is the update the thief publishes in the stolen-key scenario.
const stolenID = "TESTNET-NETNS-STOLEN"

// stolenKey: the publisher's key is stolen, and the thief runs `patchnet
// publish` with the publisher's own config to pass the old package off as
// the fix, at the fix's URL on the vendor's origin (where the thief
// cannot put bytes of its own). Every supernode fetches the artifact
// from the vendor, finds another digest and refuses to co-sign; publish
// exits with their refusals; no agent may accept or install it. Then the
// real fix goes out and every agent installs it. Wrong installs count
// agents that installed the thief's update.
func stolenKey(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	agents := agentNames(p.Nodes)
	var pk packages
	return withCluster(ctx, p, progress, agents, fixSetup(p, agents, &pk), func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		url, err := c.vendor.Add(pk.fix)
		if err != nil {
			return nil, err
		}
		_, thief, err := c.publish(ctx, zonekit.Update{ID: stolenID, Summary: "the thief's update", Ecosystem: "Debian:12",
			Package: propPackage, Fixed: newVersion, Artifact: pk.old, Method: "dpkg", URL: url})
		if err != nil {
			return nil, err
		}
		perr := <-thief
		rep := fixReport(p, c, setupTime, pk.fix)
		rep.Checks["publish_reported_refusals"] = perr != nil && strings.Contains(perr.Error(), "refused")
		if err := c.waitAll(ctx, c.supernodes(), "supernodes refused", hasEvent(stolenID, node.EventRefused)); err != nil {
			return rep, err
		}
		cosigned, err := c.countWith(ctx, c.supernodes(), hasEvent(stolenID, node.EventCoSigned))
		if err != nil {
			return rep, err
		}
		rep.Checks["none_cosigned"] = cosigned == 0
		werr := c.publishAndWait(ctx, rep, pk.fix, agents)
		return rep, errors.Join(werr, c.checkNothingOf(ctx, rep, stolenID, agents, "no_agent_accepted_stolen"))
	})
}

// publishAndWait publishes the fix, waits until every agent finished with
// it, and fills the stages, all_installed and the counters.
func (c *cluster) publishAndWait(ctx context.Context, rep *testnet.Report, fix string, agents []string) error {
	_, t0, done, err := c.publishFix(ctx, fix)
	if err != nil {
		return err
	}
	tls, werr := c.waitFinalSince(ctx, propID, agents, t0)
	if err := <-done; err != nil {
		return errors.Join(werr, err)
	}
	fillStages(rep, tls, agents, t0)
	rep.Checks["all_installed"] = count(tls, agents, installed) == len(agents)
	return errors.Join(werr, c.counters(ctx, rep, propID))
}

// checkNothingOf checks, read at the end of the run, that no agent
// accepted update id (the check named check). An agent that installed it
// is a wrong install, which the run's audit of every journal counts.
func (c *cluster) checkNothingOf(ctx context.Context, rep *testnet.Report, id string, agents []string, check string) error {
	acceptedBad, err := c.countWith(ctx, agents, hasEvent(id, node.EventAccepted))
	rep.Checks[check] = acceptedBad == 0
	return err
}

// revocation: the last supernode's certificate is revoked with `patchnet
// ca revoke`, the zone CA's next CRL issued with `patchnet ca crl` and
// sent with `patchnet publish --crl`; the daemons read CRL files only at
// start, so each must apply it from the zone's gossip. Then the fix goes
// out. The revoked supernode, still running, must count nowhere: with k
// of the others every agent installs on their signatures alone; with
// fewer, no agent accepts at all (each waits, pending).
func revocation(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	agents := agentNames(p.Nodes)
	var pk packages
	return withCluster(ctx, p, progress, agents, fixSetup(p, agents, &pk), func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		sns := c.supernodes()
		revoked := sns[len(sns)-1]
		id, err := c.peerID(ctx, revoked)
		if err != nil {
			return nil, err
		}
		rep := fixReport(p, c, setupTime, pk.fix)
		applied := c.revoke(ctx, revoked)
		rep.Checks["crl_applied_everywhere"] = applied == nil
		if applied != nil {
			return rep, applied
		}
		var werr error
		if len(sns)-1 >= p.Threshold {
			werr = c.publishAndWait(ctx, rep, pk.fix, agents)
		} else {
			werr = c.belowK(ctx, rep, pk.fix, sns[:len(sns)-1], agents)
		}
		counted, err := c.countWith(ctx, agents, signedBy(propID, id))
		rep.Checks["revoked_cosigner_never_counted"] = counted == 0
		return rep, errors.Join(werr, err)
	})
}

// revoke revokes supernode name's certificate, issues the zone CA's next
// CRL and sends it from the publisher's namespace, and waits until every
// other daemon applied it (nil: all did).
func (c *cluster) revoke(ctx context.Context, name string) error {
	crlAt := time.Now()
	zone := c.kit.Path("zone")
	if _, err := c.kit.Run(ctx, "ca", "revoke", "--ca", zone, "--reason", "keyCompromise", c.kit.Path(name, "node.crt")); err != nil {
		return err
	}
	if _, err := c.kit.Run(ctx, "ca", "crl", "--ca", zone); err != nil {
		return err
	}
	sent := make(chan error, 1)
	go func() {
		_, err := c.kit.RunWith(ctx, c.net.Node("pub").Command, "publish", "--crl", c.kit.Path("zone", "zone.crl"),
			"--config", c.kit.Path("pub.toml"))
		sent <- err
	}()
	// The revoked daemon is left out: its peers drop it as they apply the
	// CRL, and it may be cut off before the CRL reaches it.
	others := slices.DeleteFunc(slices.Sorted(maps.Keys(c.procs)), func(n string) bool { return n == name })
	applied := c.waitAll(ctx, others, "CRL applied", eventSince(node.EventCRL, crlAt))
	if err := errors.Join(<-sent, applied); err != nil {
		return fmt.Errorf("revoking %s: %w", name, err)
	}
	return nil
}

// belowK publishes the fix when fewer than k unrevoked supernodes remain:
// once each of them co-signed and every agent holds the fix pending, no
// agent may have accepted it.
func (c *cluster) belowK(ctx context.Context, rep *testnet.Report, fix string, honest, agents []string) error {
	// publish would wait out its --wait for k co-signatures that cannot
	// come: it is stopped once the checks are read.
	pctx, stop := context.WithCancel(ctx)
	_, _, done, err := c.publishFix(pctx, fix)
	if err != nil {
		stop()
		return err
	}
	defer func() { stop(); <-done }()
	if err := c.waitAll(ctx, honest, "co-signed", hasEvent(propID, node.EventCoSigned)); err != nil {
		return err
	}
	if err := c.waitAll(ctx, agents, "pending", hasEvent(propID, node.EventPending)); err != nil {
		return err
	}
	n, err := c.countWith(ctx, agents, hasEvent(propID, node.EventAccepted))
	rep.Checks["none_accepted_below_k"] = n == 0
	return err
}

// signedBy holds when the status shows update id accepted on a
// co-signature of the supernode with peer id pid.
func signedBy(id, pid string) condition {
	return func(st *node.APIStatus) bool {
		return slices.ContainsFunc(st.Events, func(e node.APIEvent) bool {
			return e.ID == id && e.Kind == node.EventAccepted && slices.ContainsFunc(e.Signers, func(s string) bool { return strings.Contains(s, pid) })
		})
	}
}

// peerID reads daemon name's peer id from its local API.
func (c *cluster) peerID(ctx context.Context, name string) (string, error) {
	clients := map[string]*node.APIClient{}
	defer closeClients(clients)
	st, err := c.status(ctx, clients, name)
	if err != nil {
		return "", err
	}
	return st.ID, nil
}

// byzantine: the last supernode turns byzantine. With the publisher's
// signature on it (`patchnet update sign` with both keys, as sim's
// attacker holds them) it co-signs a conflicting payload for the fix's id
// and version — the old package passed off as the fix, at the fix's URL —
// and the envelope is gossiped on the announce topic as it is (`patchnet
// testnet gossip`). Below k, every agent holds it pending and none accepts
// it. Then the honest fix is published; the byzantine supernode's daemon
// co-signs it too, so every agent catches it co-signing both, counts it
// no more, and installs the fix on the others' co-signatures. Read at the
// end: every agent's dpkg holds the fix's version, no agent has a record
// of the fix with another digest, and no journal an install of it.
func byzantine(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	if p.Threshold < 2 || p.Supernodes-1 < p.Threshold {
		return nil, fmt.Errorf("byzantine: needs k ≥ 2 and k honest supernodes beside the byzantine one (have k=%d of %d supernodes)", p.Threshold, p.Supernodes)
	}
	agents := agentNames(p.Nodes)
	var pk packages
	return withCluster(ctx, p, progress, agents, fixSetup(p, agents, &pk), func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		sns := c.supernodes()
		evil, err := c.gossipConflicting(ctx, pk, sns[len(sns)-1])
		if err != nil {
			return nil, err
		}
		rep := fixReport(p, c, setupTime, pk.fix)
		if err := c.waitAll(ctx, agents, "held the conflicting payload pending", hasEvent(propID, node.EventPending)); err != nil {
			return rep, err
		}
		early, err := c.countWith(ctx, agents, hasEvent(propID, node.EventAccepted))
		if err != nil {
			return rep, err
		}
		rep.Checks["none_accepted_below_k"] = early == 0
		werr := c.publishAndWait(ctx, rep, pk.fix, agents)
		caught, err := c.countWith(ctx, agents, hasEvent(propID, node.EventConflictingCoSignature))
		rep.Checks["conflict_caught_everywhere"] = caught == len(agents)
		return rep, errors.Join(werr, err, c.checkInstalledFix(ctx, rep, evil, agents))
	})
}

// gossipConflicting signs the conflicting payload with the publisher's and
// supernode byz's keys and gossips the envelope from the publisher's
// namespace; it returns the conflicting payload's digest.
func (c *cluster) gossipConflicting(ctx context.Context, pk packages, byz string) (updates.Digest, error) {
	url, err := c.vendor.Add(pk.fix)
	if err != nil {
		return updates.Digest{}, err
	}
	ann, err := c.kit.NewUpdate(ctx, zonekit.Update{ID: propID, Summary: "the byzantine supernode's payload", Ecosystem: "Debian:12",
		Package: propPackage, Fixed: newVersion, Artifact: pk.old, Method: "dpkg", URL: url})
	if err != nil {
		return updates.Digest{}, err
	}
	env := c.kit.Path("byzantine.dsse")
	in := ann
	for _, signer := range []string{"pub", byz} {
		if _, err := c.kit.Run(ctx, "update", "sign", "--key", c.kit.Path(signer, "node.key"), "--cert", c.kit.Path(signer, "node.crt"), in, "--out", env); err != nil {
			return updates.Digest{}, err
		}
		in = env
	}
	if _, err := c.kit.RunWith(ctx, c.net.Node("pub").Command, "testnet", "gossip", env, "--config", c.kit.Path("pub.toml")); err != nil {
		return updates.Digest{}, err
	}
	return payloadDigest(env)
}

// payloadDigest is the digest of the payload of the envelope in file
// path, as agents name a payload in their records.
func payloadDigest(path string) (updates.Digest, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return updates.Digest{}, fmt.Errorf("reading %s: %w", path, err)
	}
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		return updates.Digest{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return sha256.Sum256(env.Payload), nil
}

// checkInstalledFix reads each agent's dpkg database for the fix's
// version and its records of the fix: one with the conflicting payload's
// digest means the agent accepted it (installing it is a wrong install,
// which the run's audit of every journal counts).
func (c *cluster) checkInstalledFix(ctx context.Context, rep *testnet.Report, evil updates.Digest, agents []string) error {
	fixed := 0
	for _, a := range agents {
		v, err := nodelab.InstalledVersionOf(ctx, c.kit.Path(a, "root"), propPackage)
		if err != nil {
			return err
		}
		if v == newVersion {
			fixed++
		}
	}
	rep.Checks["every_agent_has_the_fix"] = fixed == len(agents)
	acceptedBad, err := c.countWith(ctx, agents, recordOf(propID, evil))
	rep.Checks["no_agent_accepted_conflicting"] = acceptedBad == 0
	return err
}

// recordOf holds when the status has a record of update id with payload
// digest d.
func recordOf(id string, d updates.Digest) condition {
	return func(st *node.APIStatus) bool {
		return slices.ContainsFunc(st.Updates, func(u node.APIUpdate) bool {
			return u.ID == id && u.Digest == d
		})
	}
}

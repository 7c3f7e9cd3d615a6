package netns

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/updates/install"
)

// checkNoWrongInstalls is the check the audit of the agents' journals
// sets (a cluster of a second zone audits into the same report).
const checkNoWrongInstalls = "no_wrong_installs"

// release is an update the zone's own publisher published: an install of
// its id with its artifact is right, any other install is wrong.
type release struct {
	id     string
	sha256 string // the artifact's, hex, as the journal records it
}

// released records that the scenario publishes update id with the
// artifact at path as the zone's publisher. A scenario's attacker
// (a stolen key, a byzantine supernode) publishes without it.
func (c *cluster) released(id, artifact string) error {
	sum, _, err := nodelab.DigestFile(artifact)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releases = append(c.releases, release{id, hex.EncodeToString(sum[:])})
	return nil
}

// sandbox makes an agent's sysroot at root with its state in state,
// oldDeb installed through a journal (unless empty): that base install is
// a release too.
func (c *cluster) sandbox(ctx context.Context, state, root, oldDeb string) error {
	if err := nodelab.MakeSandbox(ctx, state, root, oldDeb); err != nil {
		return err
	}
	if oldDeb == "" {
		return nil
	}
	return c.released(nodelab.BaseInstall, oldDeb)
}

// checkInstalls adds to the report's wrong installs the agents of c whose
// journals hold an install of anything not released, and sets
// no_wrong_installs. Every netns run ends with it.
func (c *cluster) checkInstalls(ctx context.Context, rep *testnet.Report) error {
	wrong, err := c.auditInstalls(ctx)
	rep.WrongInstalls += len(wrong)
	ok, checked := rep.Checks[checkNoWrongInstalls]
	rep.Checks[checkNoWrongInstalls] = (ok || !checked) && rep.WrongInstalls == 0 && err == nil
	if err != nil {
		return fmt.Errorf("auditing the agents' installs: %w", err)
	}
	markWrong(rep, wrong)
	return nil
}

// markWrong marks the samples of the agents in wrong with what each
// installed, adding a sample for one the run did not time.
func markWrong(rep *testnet.Report, wrong map[string]string) {
	for _, a := range slices.Sorted(maps.Keys(wrong)) {
		i := slices.IndexFunc(rep.Samples, func(s testnet.Sample) bool { return s.Node == a })
		if i < 0 {
			rep.Samples = append(rep.Samples, testnet.Sample{Node: a, Role: "agent"})
			i = len(rep.Samples) - 1
		}
		rep.Samples[i].Wrong, rep.Samples[i].WrongInstall = true, wrong[a]
	}
}

// auditInstalls reads every agent's journal with `patchnet history
// --format json` (asked of the running daemon, read from its state
// directory if it is down) and returns, by agent, its first install of
// something not released: an install transaction is journalled only
// once the agent accepted the update and is about to change the host, so
// even one that failed counts.
func (c *cluster) auditInstalls(ctx context.Context) (map[string]string, error) {
	c.mu.Lock()
	rel := slices.Clone(c.releases)
	c.mu.Unlock()
	wrong := map[string]string{}
	var errs []error
	for _, a := range c.agents {
		out, err := c.kit.Run(ctx, "history", "--state", c.kit.Path(a), "--format", "json")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		txs, err := decodeHistory(out)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s's history: %w", a, err))
			continue
		}
		if tx := wrongInstall(txs, rel); tx != nil {
			wrong[a] = fmt.Sprintf("transaction %s installed %s version %d, artifact %s", tx.ID,
				tx.Plan.AnnouncementID, tx.Plan.AnnouncementVersion, tx.Artifact.SHA256)
		}
	}
	return wrong, errors.Join(errs...)
}

// decodeHistory reads `patchnet history --format json`; an agent that
// never journalled says so in a line instead.
func decodeHistory(out string) ([]*install.Transaction, error) {
	if strings.HasPrefix(out, "no transactions") {
		return nil, nil
	}
	var txs []*install.Transaction
	if err := json.Unmarshal([]byte(out), &txs); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return txs, nil
}

// wrongInstall is the first install transaction of txs that is not of a
// release: another id, or a released id with another artifact.
// Rollbacks and prune records install nothing new.
func wrongInstall(txs []*install.Transaction, rel []release) *install.Transaction {
	for _, tx := range txs {
		if tx.Kind != install.KindInstall {
			continue
		}
		if !slices.Contains(rel, release{tx.Plan.AnnouncementID, tx.Artifact.SHA256}) {
			return tx
		}
	}
	return nil
}

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

// released records that the scenario publishes update id with the
// artifact at path as the zone's publisher. A scenario's attacker
// (a stolen key, a byzantine supernode) publishes without it.
func (c *cluster) released(id, artifact string) error {
	sum, _, err := nodelab.DigestFile(artifact)
	if err != nil {
		return err
	}
	c.releases = append(c.releases, testnet.Release{ID: id, SHA256: hex.EncodeToString(sum[:])})
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
	for _, a := range slices.Sorted(maps.Keys(wrong)) {
		rep.MarkWrong(a, wrong[a])
	}
	ok, checked := rep.Checks[testnet.CheckNoWrongInstalls]
	rep.Checks[testnet.CheckNoWrongInstalls] = (ok || !checked) && rep.WrongInstalls == 0 && err == nil
	if err != nil {
		return fmt.Errorf("auditing the agents' installs: %w", err)
	}
	return nil
}

// auditInstalls reads every agent's journal with `patchnet history
// --format json` (asked of the running daemon, read from its state
// directory if it is down) and returns, by agent, its first install of
// something not released: an install transaction is journalled only
// once the agent accepted the update and is about to change the host, so
// even one that failed counts.
func (c *cluster) auditInstalls(ctx context.Context) (map[string]string, error) {
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
		if tx := testnet.WrongInstall(txs, c.releases); tx != nil {
			wrong[a] = testnet.DescribeInstall(tx)
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

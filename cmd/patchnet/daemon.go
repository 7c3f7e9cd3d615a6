package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/updates/install"
)

// daemonAt is a client of the node daemon running on the state directory
// state, or nil when none answers there.
func daemonAt(ctx context.Context, state string) (*node.APIClient, error) {
	c, err := node.DialAPI(ctx, state)
	if errors.Is(err, node.ErrNoDaemon) {
		return nil, nil
	}
	return c, err
}

// errNoDaemon is the error of a command that needs the daemon when none
// answers on state.
func errNoDaemon(state string) error {
	return fmt.Errorf("no patchnet daemon answers at %s (is `patchnet agent --state %s` running?)", node.APISocket(state), state)
}

// keepsNoJournal reports whether err is a daemon's answer that it keeps no
// install journal (it is no agent): the journal, if any, is not its to
// hold, and commands read it themselves.
func keepsNoJournal(err error) bool {
	var apiErr *node.APIError
	return errors.As(err, &apiErr) && apiErr.Code == node.APICodeNoJournal
}

// daemonHistory reads the install journal through the daemon running on
// state: ok is false when no daemon answers there or it keeps no journal.
func daemonHistory(ctx context.Context, state string) (txs []*install.Transaction, ok bool, err error) {
	c, err := daemonAt(ctx, state)
	if c == nil || err != nil {
		return nil, false, err
	}
	defer c.Close()
	txs, err = c.History(ctx)
	if keepsNoJournal(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return txs, true, nil
}

// daemonRollback rolls id back through the daemon running on state and
// prints what `patchnet rollback` prints offline: the same lines, the
// steps and alerts replayed from the rollback transaction the daemon
// returns. done is false when no daemon answers there or it keeps no
// journal.
func daemonRollback(ctx context.Context, w io.Writer, state, id string) (done bool, err error) {
	c, err := daemonAt(ctx, state)
	if c == nil || err != nil {
		return false, err
	}
	defer c.Close()
	res, err := c.Rollback(ctx, id)
	if keepsNoJournal(err) {
		return false, nil
	}
	if res == nil {
		return true, err
	}
	if res.Root != "" {
		printRollingBack(w, id, res.Root)
	}
	if res.Transaction != nil {
		replaySteps(w, res.Transaction)
	}
	return true, rollbackOutcome(w, id, res.Transaction, err)
}

// replaySteps prints tx's steps as printStep printed them while it ran,
// each after the alerts raised before it.
func replaySteps(w io.Writer, tx *install.Transaction) {
	alerts := tx.Alerts
	for i, st := range tx.Steps {
		for len(alerts) > 0 && !alerts[0].At.After(st.At) {
			printAlert(w, alerts[0])
			alerts = alerts[1:]
		}
		upTo := *tx
		upTo.Steps = tx.Steps[:i+1]
		printStep(w, &upTo)
	}
	for _, al := range alerts {
		printAlert(w, al)
	}
}

// printAlert prints an install alert as openInstaller's OnAlert does.
func printAlert(w io.Writer, al install.Alert) {
	fmt.Fprintf(w, "ALERT %s: %s\n", al.Kind, al.Message)
}

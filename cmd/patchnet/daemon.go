package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/updates"
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

// daemonApply hands the envelope raw to the daemon running on cfg.State,
// which holds the state (its seen versions, its journal): the daemon
// verifies it with its own verifier, roots, CRLs and policy, installs it
// into its own sysroot through its own workflow, and streams the steps,
// printed here as offline apply prints them. The client's roots, zone and
// respond settings play no part. done is false when no daemon answers
// there.
func daemonApply(ctx context.Context, w io.Writer, cfg applyConfig, opts applyOptions, raw []byte) (done bool, err error) {
	c, err := daemonAt(ctx, cfg.State)
	if c == nil || err != nil {
		return false, err
	}
	defer c.Close()
	req := node.APIApplyRequest{Envelope: raw, Prefix: opts.prefix, Mode: opts.mode, IgnoreWindow: opts.ignoreWindow}
	if opts.artifact != "" {
		if req.Artifact, err = filepath.Abs(opts.artifact); err != nil {
			return true, fmt.Errorf("locating artifact %s: %w", opts.artifact, err)
		}
	}
	fmt.Fprintf(w, "verifying %s (by the patchnet daemon at %s) ...\n", opts.envelope, node.APISocket(cfg.State))
	p := &daemonApplyPrinter{w: w, report: &applyReport{w: w, state: cfg.State}}
	return true, c.Apply(ctx, req, p.print)
}

// daemonApplyPrinter prints the lines of the daemon's apply answer.
type daemonApplyPrinter struct {
	w      io.Writer
	report *applyReport
	acc    *updates.Accepted // what the daemon accepted, as far as printing needs
}

func (p *daemonApplyPrinter) print(e node.APIApplyEvent) {
	switch {
	case e.Accepted != nil:
		a := e.Accepted
		p.acc = &updates.Accepted{Announcement: &updates.Announcement{ID: a.ID, Summary: a.Summary}}
		p.acc.Announcement.Patchnet.Version, p.acc.Announcement.Patchnet.RebootRequired = a.Version, a.RebootRequired
		fmt.Fprintf(p.w, "  accepted %s version %d: %s\n  signed by %s\n", a.ID, a.Version, orNone(a.Summary), signerNamesText(a.Publishers, a.Supernodes))
		fmt.Fprintf(p.w, "matching against %s ...\n", a.Sysroot)
	case e.Say != "":
		fmt.Fprintln(p.w, e.Say)
	case e.Decision != nil:
		fmt.Fprintf(p.w, "respond: %s (%s)\n", e.Decision.Mode, e.Decision.Reason)
	case e.Step != nil && p.acc != nil:
		s := e.Step.StepOf()
		if s.Tx != nil {
			replaySteps(p.w, s.Tx) // offline apply prints them as the journal records them
		}
		p.report.step(p.acc, s)
	}
}

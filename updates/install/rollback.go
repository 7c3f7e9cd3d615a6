package install

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotRollbackable is returned when a transaction cannot be rolled back.
var ErrNotRollbackable = errors.New("cannot roll back")

// Rollback restores the before-state of a committed transaction through the
// installer that installed it, as a new transaction linked to it. It needs
// no network: the before-state was kept on disk.
func (m *Manager) Rollback(ctx context.Context, id string) (*Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	orig, err := m.Get(id)
	if err != nil {
		return nil, err
	}
	if err := rollbackable(orig); err != nil {
		return nil, err
	}
	if err := m.notPruned(orig); err != nil {
		return nil, err
	}
	if err := m.nothingStandsOn(orig); err != nil {
		return nil, err
	}
	inst, err := m.installer(orig.Plan.Method)
	if err != nil {
		return nil, err
	}
	tx := &Transaction{ID: newTxID(m.cfg.Now()), Kind: KindRollback, RollbackOf: orig.ID,
		Plan: orig.Plan, Root: orig.Root}
	env := m.env(tx, VerifiedArtifact{})
	describe := func() (Goal, error) {
		goal := orig.Before.Goal()
		if goal.Package == "" {
			goal.Package = orig.Goal.Package
		}
		return goal, nil
	}
	tx, err = m.drive(ctx, tx, env, rollbackSnapshotter{inst, orig.Goal},
		func(Goal) error { return inst.Restore(ctx, env, orig.Before) }, describe)
	m.pruneAfter(err)
	return tx, err
}

// rollbackable says why orig cannot be rolled back, if it cannot.
func rollbackable(orig *Transaction) error {
	switch {
	case orig.State != StateCommitted:
		return fmt.Errorf("transaction %s is %s, not committed: %w", orig.ID, orig.State, ErrNotRollbackable)
	case orig.RolledBackBy != "":
		return fmt.Errorf("transaction %s was already rolled back by %s: %w", orig.ID, orig.RolledBackBy, ErrNotRollbackable)
	case !orig.Before.Restorable():
		return fmt.Errorf("transaction %s has no before-state (%s): %w", orig.ID, orig.Before.Note, ErrNotRollbackable)
	}
	return nil
}

// rollbackSnapshotter snapshots the state a rollback replaces: the goal of
// the transaction being rolled back, not the rollback's own goal.
type rollbackSnapshotter struct {
	Installer
	current Goal
}

// Snapshot keeps what the rolled-back transaction installed.
func (r rollbackSnapshotter) Snapshot(ctx context.Context, env *Env, _ Goal) (Before, error) {
	return r.Installer.Snapshot(ctx, env, r.current)
}

// markRolledBack links the rolled-back transaction to the rollback.
func (m *Manager) markRolledBack(tx *Transaction) error {
	orig, err := m.store.Get(tx.RollbackOf)
	if err != nil {
		return fmt.Errorf("marking %s rolled back: %w", tx.RollbackOf, err)
	}
	if orig.RolledBackBy == tx.ID {
		return nil
	}
	orig.RolledBackBy = tx.ID
	if err := m.store.Put(orig); err != nil {
		return fmt.Errorf("marking %s rolled back: %w", tx.RollbackOf, err)
	}
	return nil
}

// Finish passes through to the wrapped installer's Finish, if it has one.
func (r rollbackSnapshotter) Finish(env *Env, goal Goal) error {
	if f, ok := r.Installer.(Finisher); ok {
		return f.Finish(env, goal)
	}
	return nil
}

// nothingStandsOn refuses to roll back orig while a later transaction's
// change to the same package or prefix is still in place: restoring orig's
// before-state would silently undo that one too, which would stay marked
// installed and never be installed again.
func (m *Manager) nothingStandsOn(orig *Transaction) error {
	txs, err := m.History()
	if err != nil {
		return fmt.Errorf("checking later transactions: %w", err)
	}
	j := newJournalView(txs)
	if later := j.standingAfter(orig); later != nil {
		return fmt.Errorf("transaction %s changed %s, and the later transaction %s (%s) still stands on it: roll back %s first: %w",
			orig.ID, targetName(orig), later.ID, later.Outcome(), later.ID, ErrNotRollbackable)
	}
	return nil
}

// journalView answers questions about the journal's rollback links.
type journalView struct {
	txs  []*Transaction
	byID map[string]*Transaction
}

// newJournalView indexes txs (oldest first) by id.
func newJournalView(txs []*Transaction) journalView {
	j := journalView{txs: txs, byID: make(map[string]*Transaction, len(txs))}
	for _, tx := range txs {
		j.byID[tx.ID] = tx
	}
	return j
}

// stands reports whether tx's change is in place: it committed, and it was
// not rolled back, or the rollback was itself rolled back, and so on. A
// link the journal no longer holds counts as a rollback that stands.
func (j journalView) stands(tx *Transaction) bool {
	in := true
	for range MaxHistory {
		if tx == nil {
			return in
		}
		if tx.State != StateCommitted {
			return !in
		}
		if tx.RolledBackBy == "" {
			return in
		}
		tx, in = j.byID[tx.RolledBackBy], !in
	}
	return false
}

// undoes reports whether a rollback moves its target back (it undoes an
// install, or redoes an undo an odd number of levels down), and what it
// ultimately undoes.
func (j journalView) undoes(tx *Transaction) (bool, *Transaction) {
	odd := false
	for range MaxHistory {
		if tx == nil || tx.Kind != KindRollback {
			return odd, tx
		}
		tx, odd = j.byID[tx.RollbackOf], !odd
	}
	return false, nil
}

// standingAfter is the newest transaction after orig on orig's target whose
// change still stands, leaving out rollbacks that only undid changes made
// after orig (they lead back to orig's goal); nil if there is none.
func (j journalView) standingAfter(orig *Transaction) *Transaction {
	var last *Transaction
	key := targetKey(orig)
	for _, l := range j.txs {
		if l.ID <= orig.ID || targetKey(l) != key || !j.stands(l) {
			continue
		}
		if back, undone := j.undoes(l); back && undone != nil && undone.ID > orig.ID {
			continue
		}
		last = l
	}
	return last
}

// targetKey is what a transaction changes: a prefix for archives, a
// package (or announcement, for scripts) otherwise, in one root.
func targetKey(tx *Transaction) string {
	return tx.Root + "\x00" + tx.Plan.Method + "\x00" + targetName(tx)
}

// targetName is the prefix or package a transaction changes.
func targetName(tx *Transaction) string {
	if tx.Plan.Method == "archive" && tx.Goal.Prefix != "" {
		return tx.Goal.Prefix
	}
	return tx.Goal.Package
}

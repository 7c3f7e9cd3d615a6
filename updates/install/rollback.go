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
	return m.drive(ctx, tx, env, rollbackSnapshotter{inst, orig.Goal},
		func(Goal) error { return inst.Restore(ctx, env, orig.Before) }, describe)
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

package install

import (
	"context"
	"errors"
	"fmt"
)

// Recover resolves every transaction a crash left unfinished, so the host
// ends at the old or the new version, and journals how. It returns the
// transactions it resolved.
//
//   - prepared, before-saved: the installer never ran; the transaction
//     fails with nothing to undo.
//   - installing: the installer may have run partly. If the installer says
//     the host is at the goal, the transaction commits; otherwise the
//     before-state is restored. A script cannot tell: its declared rollback
//     runs, or the transaction is marked broken with an alert.
//   - installed: only bookkeeping was left; it commits.
//   - a prune record not committed: its deletions are finished (each can
//     run again) and it commits.
func (m *Manager) Recover(ctx context.Context) ([]*Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	txs, err := m.store.List()
	if err != nil {
		return nil, fmt.Errorf("recovering: %w", err)
	}
	var done []*Transaction
	for _, tx := range txs {
		if tx.State.Terminal() {
			continue
		}
		if err := m.recoverOne(ctx, tx); err != nil {
			if err := m.markBroken(tx, err); err != nil {
				return done, fmt.Errorf("recovering transaction %s: %w", tx.ID, err)
			}
		}
		done = append(done, tx)
	}
	return done, nil
}

// markBroken records a recovery that could not finish, with an alert, so
// one bad transaction does not keep the journal from opening.
func (m *Manager) markBroken(tx *Transaction, cause error) error {
	if tx.State.Terminal() {
		return nil // recovery got as far as journalling an outcome
	}
	tx.Error = "recovery failed: " + cause.Error()
	m.raise(tx, Alert{At: m.cfg.Now(), Kind: AlertRecoveryFailed, Message: "transaction " + tx.ID + ": " + tx.Error})
	tx.step(StateBroken, m.cfg.Now(), "recovery failed")
	return m.store.Put(tx)
}

// recoverOne resolves one unfinished transaction.
func (m *Manager) recoverOne(ctx context.Context, tx *Transaction) error {
	tx.Recovered = true
	if tx.Kind == KindPrune {
		return m.finishPrune(tx)
	}
	inst, err := m.installer(tx.Plan.Method)
	if err != nil {
		return err
	}
	env := m.recoveryEnv(tx)
	env.run.log.write([]byte(tx.Log))
	switch tx.State {
	case StatePrepared, StateBeforeSaved:
		tx.Error = "interrupted before the installer ran"
		return m.save(tx, env, StateFailed, "recovered: nothing had changed")
	case StateInstalled:
		return m.commit(tx, env, inst, "recovered: the install had finished")
	case StateInstalling:
		return m.recoverInstalling(ctx, tx, env, inst)
	default:
		return fmt.Errorf("unknown state %q", tx.State)
	}
}

// recoveryEnv rebuilds an environment; the artifact is re-verified from its
// kept copy when there is one.
func (m *Manager) recoveryEnv(tx *Transaction) *Env {
	var art VerifiedArtifact
	if tx.Artifact.Path != "" {
		art, _ = reverifyKept(tx.Artifact.Path, tx.Artifact.SHA256)
	}
	return m.env(tx, art)
}

// recoverInstalling asks the installer where the host is and finishes or
// undoes the transaction accordingly.
func (m *Manager) recoverInstalling(ctx context.Context, tx *Transaction, env *Env, inst Installer) error {
	reached, err := inst.Reached(ctx, env, tx.Goal)
	switch {
	case errors.Is(err, ErrStateUnknown):
		return m.recoverUnknown(ctx, tx, env, inst)
	case err != nil:
		return err
	case reached:
		return m.commit(tx, env, inst, "recovered: the installer had finished; "+tx.Goal.String()+" is installed")
	}
	cause := errors.New("interrupted while installing; the host was not at the goal")
	err = m.undo(ctx, tx, env, inst, cause)
	if errors.Is(err, cause) && tx.State == StateFailed {
		return nil // undone as designed: the transaction records it
	}
	if tx.State == StateBroken {
		return nil // alert raised and journalled
	}
	return err
}

// recoverUnknown handles an interrupted script: run its rollback if it has
// one, else mark the transaction broken so an operator looks.
func (m *Manager) recoverUnknown(ctx context.Context, tx *Transaction, env *Env, inst Installer) error {
	if tx.Before.Restorable() {
		cause := errors.New("interrupted while the script ran; ran its rollback action")
		m.undo(ctx, tx, env, inst, cause)
		return nil
	}
	tx.Error = "interrupted while the script ran; it declares no rollback, so the host's state is unknown"
	m.raise(tx, Alert{At: m.cfg.Now(), Kind: AlertStateUnknown, Message: "transaction " + tx.ID + ": " + tx.Error})
	return m.save(tx, env, StateBroken, "recovered: state unknown")
}

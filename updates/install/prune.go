package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrPruned is returned for a rollback whose before-state retention
// deleted; it matches ErrNotRollbackable too.
var ErrPruned = fmt.Errorf("before-state pruned by retention: %w", ErrNotRollbackable)

// AlertPruneFailed is raised when the retention policy could not run.
const AlertPruneFailed = "prune-failed"

// Crash points of a prune, for tests.
const (
	pointPruneListed   = "prune-listed"   // the record journalled, nothing marked or deleted
	pointPruneDeleting = "prune-deleting" // transactions marked, the first path deleted
)

// Prune applies the retention policy now and returns the prune records it
// journalled (none when nothing is due). It also runs after every install
// and rollback, and at Open.
func (m *Manager) Prune() ([]*Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prune(false)
}

// pruneQuietly runs the policy where a failure must not fail what ran
// before it (an install, opening the journal): it is raised as an alert.
func (m *Manager) pruneQuietly(startup bool) {
	if _, err := m.prune(startup); err != nil && !errors.Is(err, errCrashed) && m.cfg.OnAlert != nil {
		m.cfg.OnAlert(Alert{At: m.cfg.Now(), Kind: AlertPruneFailed, Message: err.Error()})
	}
}

// prune plans and carries out one run of the policy; m.mu is held. Each
// record is journalled before any of its paths is deleted, so a crash
// leaves a record that the next Open finishes.
func (m *Manager) prune(startup bool) ([]*Transaction, error) {
	// A verified artifact not yet journalled by its install must not go;
	// VerifyArtifact waits while the policy runs.
	m.freshMu.Lock()
	defer m.freshMu.Unlock()
	txs, err := m.store.List()
	if err != nil {
		return nil, fmt.Errorf("pruning: %w", err)
	}
	plan := m.planPrune(txs, m.fresh, startup)
	var recs []*Transaction
	for files := plan.files; len(files) > 0; {
		n := min(len(files), MaxPrunedFiles)
		rec, err := m.journalPrune(files[:n], plan.over)
		if rec != nil {
			recs = append(recs, rec)
		}
		if err != nil {
			return recs, err
		}
		files = files[n:]
	}
	return recs, nil
}

// journalPrune records what is about to be deleted, then deletes it.
func (m *Manager) journalPrune(files []PrunedFile, over int64) (*Transaction, error) {
	rec := &Transaction{ID: newTxID(m.cfg.Now()), Kind: KindPrune, Root: m.rootName(), Pruned: files}
	note := fmt.Sprintf("pruning %d kept file(s), %s: listed before any is deleted", len(files), bytesText(prunedBytes(files)))
	if over > 0 {
		note += fmt.Sprintf("; still %s over max_bytes: only what must stay is left", bytesText(over))
	}
	if err := m.save(rec, nil, StatePrepared, note); err != nil {
		return nil, fmt.Errorf("pruning: %w", err)
	}
	if m.crashed(pointPruneListed) {
		return rec, errCrashed
	}
	return rec, m.finishPrune(rec)
}

// finishPrune marks the transactions whose before-states go, deletes every
// listed path and journals the outcome. Each step can run again: crash
// recovery calls it for a record left unfinished.
func (m *Manager) finishPrune(rec *Transaction) error {
	for _, id := range prunedBefores(rec) {
		tx, err := m.store.Get(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("pruning: %w", err)
		}
		if tx.PrunedBy == "" {
			tx.PrunedBy = rec.ID
			if err := m.store.Put(tx); err != nil {
				return fmt.Errorf("pruning: marking %s: %w", id, err)
			}
		}
	}
	failed := 0
	for i := range rec.Pruned {
		f := &rec.Pruned[i]
		if err := m.removeKept(*f); err != nil {
			f.Error, failed = err.Error(), failed+1
		}
		if i == 0 && m.crashed(pointPruneDeleting) {
			return errCrashed
		}
	}
	note := fmt.Sprintf("pruned %d file(s), %s freed", len(rec.Pruned)-failed, bytesText(prunedBytes(rec.Pruned)))
	if failed > 0 {
		note += fmt.Sprintf("; %d could not be deleted (see pruned[].error)", failed)
	}
	return m.save(rec, nil, StateCommitted, note)
}

// prunedBefores lists the transactions whose before-state rec deletes:
// they can no longer be rolled back.
func prunedBefores(rec *Transaction) []string {
	var ids []string
	seen := map[string]bool{}
	for _, f := range rec.Pruned {
		if f.Of != "" && !seen[f.Of] && (f.What == WhatBefore || f.What == WhatTree || f.What == WhatScript) {
			seen[f.Of] = true
			ids = append(ids, f.Of)
		}
	}
	return ids
}

// removeKept deletes one listed path; a path already gone is done. A path
// outside what patchnet keeps is refused, whatever the record says.
func (m *Manager) removeKept(f PrunedFile) error {
	if err := m.mayDelete(f); err != nil {
		return err
	}
	var err error
	switch f.What {
	case WhatPackage:
		// The digest first: without it PackageStore.Lookup finds nothing,
		// so a half-deleted entry is never used.
		err = errors.Join(removeFile(f.Path+".sha256"), removeFile(f.Path))
	default:
		err = os.RemoveAll(f.Path)
	}
	if err != nil {
		return fmt.Errorf("deleting %s: %w", f.Path, err)
	}
	if f.What == WhatArtifact || f.What == WhatUnused || f.What == WhatScript {
		os.Remove(filepath.Dir(f.Path)) // the artifact's directory, once empty
	}
	return nil
}

// removeFile deletes a file; one already gone is fine.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// mayDelete refuses a path that is not one retention prunes: only what
// lies under keep/, artifacts/ and packages/ of the state directory or a
// download directory, or the kept or undone tree of the transaction the
// file is listed for, beside that transaction's prefix.
func (m *Manager) mayDelete(f PrunedFile) error {
	p := filepath.Clean(f.Path)
	dirs := []string{filepath.Join(m.cfg.StateDir, "keep"), m.artifactsDir(), m.packages.dir}
	dirs = append(dirs, m.cfg.Retention.DownloadDirs...)
	for _, d := range dirs {
		if within(filepath.Clean(d), p) {
			return nil
		}
	}
	if f.What == WhatTree || f.What == WhatUndone {
		if tx, err := m.store.Get(f.Of); err == nil {
			for _, prefix := range []string{tx.Before.Prefix, tx.Goal.Prefix} {
				if prefix != "" && (p == keptTree(prefix, tx.ID) || p == undoneTree(prefix, tx.ID)) {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("refusing to delete %s: not a path retention prunes", f.Path)
}

// notPruned refuses to roll back a transaction whose before-state was
// pruned, naming the prune record and its reason.
func (m *Manager) notPruned(orig *Transaction) error {
	if orig.PrunedBy == "" {
		return nil
	}
	why := "see patchnet history"
	if rec, err := m.store.Get(orig.PrunedBy); err == nil {
		for _, f := range rec.Pruned {
			if f.Of == orig.ID {
				why = f.Why
				break
			}
		}
	}
	return fmt.Errorf("transaction %s: its before-state (%s) was deleted by the retention policy in prune record %s (%s): %w",
		orig.ID, orig.Before.Describe(), orig.PrunedBy, why, ErrPruned)
}

// BeforeStatus says whether tx's before-state is there for a rollback:
// "kept", "pruned" (PrunedBy names the prune record), "none" (nothing can
// restore it), "used" (its rollback restored it) or "-" (not a committed
// install or rollback).
func (tx *Transaction) BeforeStatus() string {
	switch {
	case tx.Kind == KindPrune || tx.State != StateCommitted:
		return "-"
	case tx.RolledBackBy != "":
		return "used"
	case tx.PrunedBy != "":
		return "pruned"
	case !tx.Before.Restorable():
		return "none"
	default:
		return "kept"
	}
}

// pruneOutcome is a prune record's line for a person.
func pruneOutcome(tx *Transaction) string {
	if tx.State != StateCommitted {
		return fmt.Sprintf("pruning %d file(s): interrupted, finished at the next start (%s)", len(tx.Pruned), tx.State)
	}
	return fmt.Sprintf("pruned %d file(s), %s freed", len(tx.Pruned), bytesText(prunedBytes(tx.Pruned)))
}

// prunedBytes adds up what files free.
func prunedBytes(files []PrunedFile) int64 {
	var n int64
	for _, f := range files {
		if f.Error == "" {
			n += f.Bytes
		}
	}
	return n
}

// bytesText is a size for a person: "512 B", "1.5 MiB".
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit && exp < 4; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

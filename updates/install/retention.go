package install

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Retention is how much of the past the state directory keeps.
//
// A transaction keeps files: its before-state (the previous package file
// under keep/TX, an archive's replaced tree beside its prefix, an update
// script), its logs (keep/TX), its verified artifact (artifacts/), the
// package file of its goal (packages/: the next upgrade's before-state) and,
// for an undone archive install, the tree it had brought. Per target (a
// package or an archive prefix in one root) the files of the newest
// KeepLast committed transactions are kept, and those of the newest
// KeepLast failed ones; past MaxBytes the oldest of those go too, failed
// ones first.
//
// Never pruned: broken or unfinished transactions (an operator or crash
// recovery needs their files), each target's newest committed transaction,
// any before-state that `patchnet rollback` would restore right now, and a
// file another kept transaction still names (a package file two installs
// share). Each deletion is journalled first, in a prune record.
type Retention struct {
	// KeepLast is how many committed transactions per target keep their
	// files, 1..MaxKeepLast. Rolling back further fails, naming the prune
	// record. 0 is refused: the newest before-state is what undoes a bad
	// update.
	KeepLast int
	// MaxBytes bounds the bytes all kept files take together,
	// 0..MaxRetentionBytes; 0 means no bound by bytes. Hard-linked files
	// count once.
	MaxBytes int64
	// DownloadDirs are where callers put downloaded artifacts, each file
	// named by its artifact's SHA-256 hex, before VerifyArtifact copies them
	// in (an agent's STATE/incoming, apply's STATE/downloads). At Open, a
	// file there whose artifact a finished transaction installed is pruned:
	// its verified copy is under artifacts/.
	DownloadDirs []string
}

// Validate names the first bad field and its value.
func (r Retention) Validate() error {
	switch {
	case r.KeepLast < 1 || r.KeepLast > MaxKeepLast:
		return fmt.Errorf("retention.keep_last %d must be in 1..%d (0 would delete the before-state that undoes the newest install)", r.KeepLast, MaxKeepLast)
	case r.MaxBytes < 0 || r.MaxBytes > MaxRetentionBytes:
		return fmt.Errorf("retention.max_bytes %d must be in 0..%d (0: no bound by bytes)", r.MaxBytes, int64(MaxRetentionBytes))
	}
	for _, d := range r.DownloadDirs {
		if d == "" || filepath.Clean(d) == "/" {
			return fmt.Errorf("retention download directory %q must name a directory other than /", d)
		}
	}
	return nil
}

// PrunedFile is one path a prune record deletes.
type PrunedFile struct {
	Path string `json:"path"`
	// What the path held: one of the What* constants.
	What string `json:"what"`
	// Of is the transaction the file was kept for; empty for an unused
	// artifact or a download.
	Of string `json:"of,omitempty"`
	// Bytes is what deleting it frees: a file hard-linked elsewhere counts
	// where its last link goes.
	Bytes int64  `json:"bytes"`
	Why   string `json:"why"`
	// Error says why the path could not be deleted; it is then left as it
	// was.
	Error string `json:"error,omitempty"`
}

// What a pruned path held.
const (
	WhatBefore   = "before-state"    // keep/TX holding the previous package file
	WhatTree     = "replaced tree"   // an archive's previous tree, beside its prefix
	WhatScript   = "script"          // an update script, its own rollback action
	WhatLogs     = "logs"            // keep/TX holding only the tools' logs
	WhatArtifact = "artifact"        // the verified copy under artifacts/
	WhatPackage  = "package file"    // packages/METHOD/NAME_VERSION (+ .sha256)
	WhatUndone   = "undone tree"     // the tree an undone archive install had brought
	WhatUnused   = "unused artifact" // verified, never installed
	WhatDownload = "download"        // a download whose artifact is installed
)

// keptFile is one path a transaction keeps.
type keptFile struct{ path, what string }

// keptFiles lists the paths tx keeps; paths that do not exist are left
// out by the caller.
func (m *Manager) keptFiles(tx *Transaction) []keptFile {
	keep := filepath.Join(m.cfg.StateDir, "keep", tx.ID)
	what := WhatLogs
	if tx.Before.Kind == BeforePackage { // the installers keep its file under keep/TX
		what = WhatBefore
	}
	out := []keptFile{{keep, what}}
	if tx.Plan.Method == "archive" {
		if p := tx.Before.Prefix; tx.Before.Kind == BeforeTree && p != "" && tx.Before.Path == keptTree(p, tx.ID) {
			out = append(out, keptFile{tx.Before.Path, WhatTree})
		}
		if p := tx.Goal.Prefix; p != "" {
			out = append(out, keptFile{undoneTree(p, tx.ID), WhatUndone})
		}
	}
	if p := tx.Artifact.Path; p != "" && within(m.artifactsDir(), p) {
		what := WhatArtifact
		if tx.Before.Kind == BeforeScript && tx.Before.Path == p {
			what = WhatScript
		}
		out = append(out, keptFile{p, what})
	}
	if tx.State == StateCommitted && isPackageMethod(tx.Plan.Method) && !tx.Goal.Absent && tx.Goal.Package != "" {
		out = append(out, keptFile{m.packages.key(tx.Plan.Method, tx.Goal.Package, tx.Goal.Version), WhatPackage})
	}
	return out
}

// artifactsDir holds the verified artifacts.
func (m *Manager) artifactsDir() string { return filepath.Join(m.cfg.StateDir, "artifacts") }

// within reports whether p is strictly inside dir.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../") && filepath.IsAbs(p)
}

// pruneCandidate is one install or rollback whose files the policy weighs.
type pruneCandidate struct {
	tx    *Transaction
	files []string
	keep  bool
	floor bool   // never pruned, whatever the bytes
	why   string // why it is pruned, once it is
}

// prunePlan is what one run of the policy deletes.
type prunePlan struct {
	files []PrunedFile
	// over is how far kept files still exceed MaxBytes (0 if not): what is
	// left is the floor.
	over int64
}

// planPrune decides what the policy deletes, given the journal (oldest
// first); fresh paths (verified, not yet installed) are never touched.
// Unused artifacts and downloads are only looked for at start-up, and only
// when the journal was listed whole.
func (m *Manager) planPrune(txs []*Transaction, fresh map[string]bool, startup bool) prunePlan {
	cands := m.candidates(txs)
	u := newUsage()
	for _, c := range cands {
		for _, p := range c.files {
			u.ref(p)
		}
	}
	for p := range fresh {
		u.ref(p)
	}
	var plan prunePlan
	for _, c := range cands {
		if !c.keep {
			plan.files = append(plan.files, m.drop(u, c)...)
		}
	}
	plan.files = append(plan.files, m.pruneForBytes(cands, u)...)
	if m.cfg.Retention.MaxBytes > 0 && u.total > m.cfg.Retention.MaxBytes {
		plan.over = u.total - m.cfg.Retention.MaxBytes
	}
	if startup && len(txs) < MaxHistory {
		plan.files = append(plan.files, m.unusedFiles(txs, fresh)...)
	}
	return plan
}

// candidates weighs every install and rollback not pruned yet by count:
// per target, newest first, the first KeepLast committed and the first
// KeepLast failed ones keep their files.
func (m *Manager) candidates(txs []*Transaction) []*pruneCandidate {
	j := newJournalView(txs)
	byTarget := map[string][]*pruneCandidate{}
	var all []*pruneCandidate
	for _, tx := range txs {
		if (tx.Kind != KindInstall && tx.Kind != KindRollback) || tx.PrunedBy != "" {
			continue
		}
		c := &pruneCandidate{tx: tx, keep: true, files: m.existing(tx)}
		byTarget[targetKey(tx)] = append(byTarget[targetKey(tx)], c)
		all = append(all, c)
	}
	keepLast := m.cfg.Retention.KeepLast
	for _, list := range byTarget {
		committed, failed := 0, 0
		for i := len(list) - 1; i >= 0; i-- {
			c := list[i]
			switch c.tx.State {
			case StateCommitted:
				committed++
				// Only a transaction with files left needs the (costlier)
				// floor test: old ones were pruned long ago.
				if len(c.files) > 0 {
					c.floor = committed == 1 || j.rollbackableNow(c.tx)
				}
				c.keep = c.floor || committed <= keepLast
				c.why = fmt.Sprintf("keep_last %d: newer committed transactions of %s keep theirs", keepLast, targetName(c.tx))
			case StateFailed:
				failed++
				c.keep = failed <= keepLast
				c.why = fmt.Sprintf("keep_last %d: newer failed transactions of %s keep theirs", keepLast, targetName(c.tx))
			default: // broken or unfinished: an operator or recovery needs them
				c.floor = true
			}
		}
	}
	return all
}

// rollbackableNow reports whether Rollback would restore tx's before-state
// now, refusing nothing: pruning must leave that before-state alone.
func (j journalView) rollbackableNow(tx *Transaction) bool {
	return rollbackable(tx) == nil && j.standingAfter(tx) == nil
}

// existing is the paths tx keeps that are there.
func (m *Manager) existing(tx *Transaction) []string {
	var out []string
	for _, f := range m.keptFiles(tx) {
		if exists(f.path) {
			out = append(out, f.path)
		}
	}
	return out
}

// pruneForBytes drops kept transactions above the floor, oldest first and
// failed ones before committed ones, until the kept files fit MaxBytes.
func (m *Manager) pruneForBytes(cands []*pruneCandidate, u *usage) []PrunedFile {
	limit := m.cfg.Retention.MaxBytes
	if limit <= 0 || u.total <= limit {
		return nil
	}
	var order []*pruneCandidate
	for _, c := range cands {
		if c.keep && !c.floor {
			order = append(order, c)
		}
	}
	slices.SortStableFunc(order, func(a, b *pruneCandidate) int {
		return cmp.Compare(stateRank(a.tx.State), stateRank(b.tx.State))
	})
	why := fmt.Sprintf("max_bytes %d: kept files took %d bytes", limit, u.total)
	var out []PrunedFile
	for _, c := range order {
		if u.total <= limit {
			break
		}
		c.keep, c.why = false, why
		out = append(out, m.drop(u, c)...)
	}
	return out
}

// stateRank orders failed transactions before committed ones.
func stateRank(s State) int {
	if s == StateFailed {
		return 0
	}
	return 1
}

// drop releases c's paths and lists those no kept transaction still
// names, with the bytes deleting each frees.
func (m *Manager) drop(u *usage, c *pruneCandidate) []PrunedFile {
	var out []PrunedFile
	for _, p := range c.files {
		if freed, gone := u.release(p); gone {
			out = append(out, PrunedFile{Path: p, What: m.whatOf(c.tx, p), Of: c.tx.ID, Bytes: freed, Why: c.why})
		}
	}
	return out
}

// whatOf names what path holds for tx.
func (m *Manager) whatOf(tx *Transaction, path string) string {
	for _, f := range m.keptFiles(tx) {
		if f.path == path {
			return f.what
		}
	}
	return WhatLogs
}

// unusedFiles lists, at start-up, verified artifacts no transaction of the
// journal names (verified, then never installed, or a copy a crash left
// half-made) and downloads whose artifact a finished transaction
// installed.
func (m *Manager) unusedFiles(txs []*Transaction, fresh map[string]bool) []PrunedFile {
	// Named by digest and name, the layout of artifacts/, not by path: a
	// journal written with a relative state directory has relative paths.
	named := map[string]bool{}
	installed := map[string]string{} // artifact SHA-256 hex → a transaction that installed it
	for _, tx := range txs {
		named[strings.ToLower(tx.Artifact.SHA256)+"/"+tx.Artifact.Name] = true
		if tx.State.Terminal() && len(tx.Artifact.SHA256) == 64 {
			installed[strings.ToLower(tx.Artifact.SHA256)] = tx.ID
		}
	}
	var out []PrunedFile
	files, _ := filepath.Glob(filepath.Join(m.artifactsDir(), "*", "*"))
	for _, p := range files {
		if !named[filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p)] && !fresh[p] {
			out = append(out, PrunedFile{Path: p, What: WhatUnused, Bytes: fileBytes(p),
				Why: "verified, but no transaction of the journal installed it"})
		}
	}
	for _, dir := range m.cfg.Retention.DownloadDirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if n := e.Name(); len(n) >= 64 && installed[strings.ToLower(n[:64])] != "" {
				p := filepath.Join(dir, n)
				out = append(out, PrunedFile{Path: p, What: WhatDownload, Bytes: fileBytes(p),
					Why: "its artifact was installed by " + installed[strings.ToLower(n[:64])] + ", which keeps the verified copy under artifacts/"})
			}
		}
	}
	return out
}

// Package install puts a verified artifact onto a host through the host's own
// tools (dpkg, rpm, apk, a script, or an archive unpacked into a prefix) and
// keeps a journal of every install so that it can be rolled back and so that
// a crash at any step is resolved at the next start to the old or the new
// version, never something in between.
//
// It owns: the Installer seam and its five implementations, the pinning of
// installer binaries by SHA-256 (paper, section V.C), the kept before-states
// under the state directory, the transaction journal (badger, with an
// in-memory Store for tests), crash recovery and rollback.
//
// It must not: decide whether an update is trusted or applies to this host
// (package updates does that), fetch anything, or import overlay or node.
// Every installer receives only a VerifiedArtifact, whose bytes were hashed
// and checked against the announced size and SHA-256 as they were copied
// into the state directory, so what runs is what was checked; kept files are
// re-hashed against the journal before a rollback uses them.
//
// The state directory:
//
//	journal/                  badger: one record per transaction ("tx/ID")
//	artifacts/SHA256/NAME     verified copies of installed artifacts
//	packages/METHOD/NAME_VER  every package file patchnet installed, kept as
//	                          the next upgrade's before-state (+ .sha256)
//	keep/TX/                  one transaction's before-state: the previous
//	                          package file, the tools' logs, a script's
//	                          working directory
//
// An archive's replaced tree is not under the state directory: it is kept
// beside its prefix, as PARENT/.NAME.patchnet-old-TX, so it is only ever
// renamed (one step, same filesystem) and never copied; a tree an undone
// install had brought is kept as .NAME.patchnet-undone-TX.
//
// Retention (see Retention) prunes kept files after every transaction and
// at Open: per target the newest keep_last committed transactions keep
// theirs, within max_bytes, and never the newest one's or a before-state a
// rollback would restore now. Each deletion is listed in a "prune" journal
// record before anything is deleted, and the transactions whose
// before-states go are marked (PrunedBy), so a crash leaves a record the
// next Open finishes and a rollback of a pruned transaction is refused
// naming the record (ErrPruned).
//
// A rollback is refused while a later transaction on the same package or
// prefix still stands (committed, and not rolled back): it names the one to
// roll back first.
//
// A transaction moves prepared → before-saved → installing → installed →
// committed, each step synced to the journal before the next begins. A
// failure after before-saved restores the before-state (failed); a restore
// that fails too leaves it broken, with an alert.
package install

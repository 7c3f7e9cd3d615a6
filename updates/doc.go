// Package updates owns what happens on a host once an update is trusted: the
// announcement model (OSV-compatible), ecosystem version ordering, matching
// against the local inventory, verified fetch, installers, the install
// journal, rollback and respond modes.
//
// It must not import overlay or node: everything here works offline.
package updates

// Package zonekit sets up and drives a zone of separate patchnet processes
// the way an administrator would: PKI with `patchnet ca`/`cert`, configs
// with `patchnet init`, daemons with `patchnet supernode`/`agent`, updates
// with `patchnet update new` and `patchnet publish`, and a vendor origin
// that serves artifacts with detached OpenPGP signatures.
//
// It is shared by the end-to-end tests of cmd/patchnet and the netns mode
// of testnet. It owns no network: callers hand it commands to start (plain,
// or inside a namespace of internal/netns) and addresses to listen on. It
// is a harness, above node: production code must not import it.
package zonekit

// Package node is the patchnet agent: it wires trust, sysinfo, updates and
// overlay together, holds roles (agent, supernode, publisher), enforces the
// co-signature quorum, keeps state in badger and serves the local API.
//
// It must not be imported by trust, sysinfo, updates or overlay.
package node

// Package testnet runs hundreds to thousands of full patchnet nodes (the same
// node code, in-memory badger) in one process over a simulated network, and
// reports propagation percentiles as JSON and SVG.
//
// It is a harness: production code must not import it.
package testnet

// Package ca issues patchnet certificates: root CAs, zone CAs, node
// certificates from requests, and CRLs. An Authority issues in memory (tests
// use it through trusttest); a CA keeps its key, certificate, issued/revoked
// list and CRL number in a directory, for the `patchnet ca` and `patchnet
// cert` commands.
//
// Directory layout:
//
//	root CA:  root.crt root.key state.json root.crl
//	zone CA:  zone.crt zone.key state.json zone.crl
//
// Keys are written 0600, every file atomically (temporary file + rename);
// mutations hold an flock on the directory's .lock file, so two commands
// cannot issue the same CRL number.
//
// It owns issuance policy; verification stays in package trust.
package ca

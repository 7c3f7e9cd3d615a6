// Package trust is patchnet's verification kernel: keys, X.509 certificates
// (root CA → zone CA → leaf), certificate requests, CRLs and DSSE signed
// envelopes. Every byte that enters an agent becomes a trusted value only
// through a trust.Verify… function.
//
// It must not touch the network, and it imports no other patchnet package.
package trust

// Package nodelab builds a whole patchnet zone in one process, on loopback:
// a root and zone CA with real certificate files (trust/ca), real .deb
// packages built with dpkg-deb, a sandbox Debian 12 root per agent with the
// old package installed by real dpkg, a vendor HTTP server, and a publisher,
// supernodes and agents running the real node code. `patchnet demo` and the
// node tests run on it.
//
// It must not be imported by node itself; it needs dpkg-deb and dpkg.
package nodelab

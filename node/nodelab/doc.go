// Package nodelab builds a whole patchnet zone in one process, on loopback:
// a root and zone CA with real certificate files (trust/ca), real .deb
// packages built with dpkg-deb, a sandbox Debian 12 root per agent with the
// old package installed by real dpkg, a vendor HTTP server, and a publisher,
// supernodes and agents running the real node code. `patchnet demo` and the
// node tests run on it.
//
// With Options.FakeInstaller the agents install through a
// RecordingInstaller (recorder.go) instead: artifacts are still verified
// for real, installs are recorded in memory and written into each
// sandbox's dpkg status file, and neither dpkg nor dpkg-query runs; the
// .debs are written without dpkg-deb where it is missing (writeDeb). The
// node tests use it on hosts without dpkg (or with
// PATCHNET_FAKE_INSTALLER=1); the testnet, with thousands of agents in
// one process, can record their installs with it too. The demo always
// installs with real dpkg.
//
// It must not be imported by node itself. Without FakeInstaller it needs
// dpkg-deb, dpkg and dpkg-query.
package nodelab

// Package sim runs a patchnet zone of full nodes in one process over a
// simulated network, and reports it as testnet.Report (mode "sim").
//
// Every node is the node package's own stack (verifier, validator,
// acceptance, matching, content, a nodelab.RecordingInstaller — or, with
// Options.RealInstallers, dpkg into a sandbox Debian root, as `patchnet
// demo` runs it), built by
// nodelab with its production libp2p host — resource and connection
// managers, gater, QUIC — whose UDP sockets are endpoints of one
// github.com/marcopolo/simnet network (x/simlibp2p.QUICSimnet, through
// node.Config.HostOptions): every node has its own address, a one-way
// latency and an uplink/downlink bandwidth cap. The zone forms as a real
// one: agents bootstrap off the publisher and one supernode and find each
// other through the DHT.
//
// Why simnet and not mocknet: mocknet hosts have no resource manager,
// connection manager or gater, so the ~64-peer cliff of issue 10 (a
// resource-manager limit) cannot show in them, and their links are per pair
// (LinkAll is n² links) where an origin's cap is per node. Why real time
// and not testing/synctest's virtual time: synctest runs only inside a
// test (synctest.Test), and the runner must also run from the command line;
// times are therefore wall-clock on a loaded machine, compared only with
// the baselines measured in the same run.
//
// It is a harness: it decides no trust (the nodes do) and production code
// must not import it.
package sim

// Package sim runs a patchnet zone of full nodes in one process over a
// simulated network, and reports it as testnet.Report (mode "sim").
//
// Every node is the node package's own stack (verifier, validator,
// acceptance, matching, content, a nodelab.RecordingInstaller — or, with
// Options.RealInstallers, dpkg into a sandbox Debian root, as `patchnet
// demo` runs it), built by
// nodelab with its production libp2p host — resource and connection
// managers, gater, QUIC — whose UDP sockets are endpoints of one
// github.com/marcopolo/simnet network (x/simlibp2p.QUICSimnet's wiring
// with the partition's cut around each socket, cut.go, through
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
// Scenarios: propagation, churn, byzantine, stolen-key, late-join,
// revocation, flood, content and partition. Partition cuts the network in
// two (cut.go): simnet's router cannot drop packets between chosen
// endpoints, so every endpoint's socket drops the datagrams to and from
// the other side while the cut is up — a packet-level cut the nodes see as
// silence, not a connection gater or a closed connection. The side with the
// publisher and k supernodes must install, the cut side accept nothing;
// once QUIC gave up on every connection across the cut (its idle timeout,
// ~30–45 s) the cut heals and the cut side must catch up through the sync
// protocol. Partition runs scale the heartbeat (2 s, cut off after 6 s)
// and anti-entropy (5 s) intervals down from production's minutes.
// private-zone cannot run here: a private zone's pre-shared key is
// libp2p's pnet, which go-libp2p's QUIC transport refuses ("QUIC doesn't
// support private networks yet") and simnet carries only datagrams, with
// no TCP for pnet to run over.
//
// It is a harness: it decides no trust (the nodes do) and production code
// must not import it.
package sim

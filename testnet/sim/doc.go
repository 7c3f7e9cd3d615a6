// Package sim runs a patchnet zone of full nodes in one process over a
// simulated network, and reports it as testnet.Report (mode "sim").
//
// Every node is the node package's own stack (verifier, validator,
// acceptance, matching, content, a nodelab.RecordingInstaller — or, with
// Options.RealInstallers, dpkg into a sandbox Debian root, as `patchnet
// demo` runs it), built by nodelab with its production libp2p host —
// resource and connection managers, gater, QUIC — whose UDP socket is an
// endpoint of the run's network fabric (fabric.go, through
// node.Config.HostOptions): every node has its own address (simnet's
// IntToPublicIPv4 of its number), a one-way latency, a random loss share
// (Params.Loss) and an uplink/downlink bandwidth cap. The zone forms as a real one: agents bootstrap off the
// publisher and one supernode and find each other through the DHT.
//
// The fabric replaced github.com/marcopolo/simnet's Simnet router, whose
// single goroutine handed every datagram over one at a time and waited
// while the destination's link was full, so one busy node stalled the
// whole network (at 1,000 nodes the zone meshed about 100 nodes a
// minute). Here every endpoint has its own delivery queue and goroutine;
// a datagram's times are computed as it is sent, from its sender's uplink
// and its destination's downlink, each sending one datagram after another
// at its rate and dropping one that would wait more than linkBuffer
// (limits.go) behind those queued, as a router's full buffer does. Each
// node's socket (socket.go) is a net.PacketConn that libp2p's QUIC
// transport runs on through quicreuse's OverrideListenUDP and
// OverrideSourceIPSelector, the wiring x/simlibp2p.QUICSimnet uses
// (network.go's quicOnFabric).
//
// Why not mocknet: mocknet hosts have no resource manager, connection
// manager or gater, so the ~64-peer cliff of issue 10 (a resource-manager
// limit) cannot show in them, and their links are per pair (LinkAll is n²
// links) where an origin's cap is per node. Why real time and not
// testing/synctest's virtual time: synctest runs only inside a test
// (synctest.Test), and the runner must also run from the command line;
// times are therefore wall-clock on a loaded machine, compared only with
// the baselines measured in the same run.
//
// Scenarios: propagation, churn, byzantine, stolen-key, late-join,
// revocation, flood (the same forger and replayer as netns's, testnet's
// Flood, here on raw hosts of the fabric), content and partition. Partition cuts the network in
// two (cut.go): while the cut is up the fabric drops every datagram
// between the sides, as it is sent and, for one in flight when the cut
// went up, as it arrives — a packet-level cut the nodes see as silence,
// not a connection gater or a closed connection. The side with the
// publisher and k supernodes must install, the cut side accept nothing;
// once QUIC gave up on every connection across the cut (its idle timeout,
// ~30–45 s) the cut heals and the cut side must catch up through the sync
// protocol (its agents, hearing fewer than k supernodes, redial their
// bootstrap peers across: overlay.RedialBootstrap). Partition runs scale
// the heartbeat (2 s, cut off after 6 s) and anti-entropy (5 s) intervals
// down from production's minutes. private-zone cannot run here: a private
// zone's pre-shared key is libp2p's pnet, which go-libp2p's QUIC transport
// refuses ("QUIC doesn't support private networks yet"), and the fabric
// carries only QUIC's datagrams, with no TCP for pnet to run over; it
// runs in netns mode.
//
// It is a harness: it decides no trust (the nodes do) and production code
// must not import it.
package sim

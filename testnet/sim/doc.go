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
// Nodes connect over QUIC on the fabric's datagrams (Params.Transport
// "quic", the default), or over TCP ("tcp"): a transport of the sim's own
// (tcp.go) whose connections are reliable byte streams on the same links
// (stream.go: segments take the sender's uplink, the latency and the
// receiver's downlink; a writer waits on its peer's window and on its own
// full uplink instead of the link dropping; a segment a cut or the loss
// share stops comes again after a retransmission timeout, the segments
// behind it waiting), upgraded by libp2p's own upgrader — the node's TLS,
// yamux, resource manager, gater and, in a private zone, its pre-shared
// key — as the production TCP transport's kernel sockets are. A TCP
// connection costs less than a QUIC one here (no per-connection QUIC
// state, no timer reset per packet), and it is the transport a private
// zone needs.
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
// down from production's minutes. private-zone (private.go, tcp only:
// go-libp2p's QUIC refuses a pre-shared key) starts a private zone,
// acme, first: its own zone CA, supernodes and publisher, half the agents,
// a pre-shared key on every connection; the public zone is made under the
// same root, and its agents are given acme's first supernode as a
// bootstrap peer. Each zone publishes its fix at once; each zone's agents
// must install their own, no node of either have an event of the other's
// fix, and no connection cross.
//
// It is a harness: it decides no trust (the nodes do) and production code
// must not import it.
package sim

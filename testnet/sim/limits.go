package sim

import "time"

const (
	// linkBuffer is how long a datagram may wait on a capped link behind
	// those already queued before the link drops it: a router's buffer of
	// about a bandwidth-delay product at the run's latencies (125 KB at
	// 10 Mbit/s), so a sender past the link's rate sees loss, as on a real
	// network, rather than an ever longer queue.
	linkBuffer = 100 * time.Millisecond

	// simPort is every node's port on the fabric, QUIC's or TCP's.
	simPort = 4001
	// streamWindow is how many bytes a tcp transport's stream end sends
	// that its peer has not read before it waits: a kernel's default TCP
	// receive buffer (Linux: 128 KiB, autotuned up), enough for 10 Mbit/s
	// at a 100 ms round trip.
	streamWindow = 256 << 10
	// streamSegment is the most a stream's write puts in one segment on
	// the fabric: larger than TCP's segments (fewer to schedule), small
	// enough that a capped link interleaves streams (13 ms at 10 Mbit/s).
	streamSegment = 16 << 10
	// streamRetransmit is how long a stream's segment that a cut or the
	// loss share stopped takes to come again: Linux's minimum TCP
	// retransmission timeout.
	streamRetransmit = 200 * time.Millisecond
	// tcpBacklog is how many dialled connections a listener holds before
	// it refuses more: somaxconn's order.
	tcpBacklog = 1024
	// tcpEphemeralBase and tcpEphemeralPorts are the port numbers dials
	// take, Linux's default ip_local_port_range (32768–60999).
	tcpEphemeralBase, tcpEphemeralPorts = 32768, 28232

	// socketQueue is how many received datagrams a socket holds before its
	// link waits for the reader: a kernel's default UDP buffer (212 KB) of
	// full-size datagrams.
	socketQueue = 160

	// meshChecks is how many agents' pubsub loops the mesh check asks at
	// once (zone.meshedBeyondBootstrap): each loop answers on its own.
	meshChecks = 64

	// settleWindow is the window over which a settling zone's CPU use is
	// measured: long enough to average over gossipsub's 1 s heartbeats and
	// the DHT's query bursts.
	settleWindow = 10 * time.Second
	// settleFalling: a zone still settles while a window's CPU use is
	// below this share of the lowest window before it.
	settleFalling = 0.9
	// settleSaturated: a zone using at least this share of the machine's
	// cores is still working off its set-up, however flat its use.
	settleSaturated = 0.9
	// settleQuiet is how many windows in a row must stay within
	// settleFalling of the lowest use before them: one flat window among
	// falling ones (a 1,000-node zone stopped settling after 30 s at 1.65
	// cores, where it falls to about one core within 3 minutes) is noise.
	settleQuiet = 2
)

package sim

import "time"

const (
	// linkBuffer is how long a datagram may wait on a capped link behind
	// those already queued before the link drops it: a router's buffer of
	// about a bandwidth-delay product at the run's latencies (125 KB at
	// 10 Mbit/s), so a sender past the link's rate sees loss, as on a real
	// network, rather than an ever longer queue.
	linkBuffer = 100 * time.Millisecond

	// socketQueue is how many received datagrams a socket holds before its
	// link waits for the reader: a kernel's default UDP buffer (212 KB) of
	// full-size datagrams.
	socketQueue = 160
)

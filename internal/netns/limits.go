package netns

import "time"

const (
	// NamePrefix starts the name of every namespace this package makes:
	// NamePrefix PID "-" SEQ "-" NODE. Sweep removes those whose PID is dead.
	NamePrefix = "pnet"
	// MaxNodes bounds a network's nodes: one /16 holds them, with the hub
	// at .0.1 and nodes from .0.2.
	MaxNodes = 1000
	// MaxNodeName bounds a node's name, so namespace names stay short.
	MaxNodeName = 32
	// ShapeLatency bounds how long tbf queues a packet before dropping it:
	// long enough for TCP to keep the link full, short enough that a
	// shaped link does not look like a slow one.
	ShapeLatency = 200 * time.Millisecond
	// MinBurst is the smallest tbf bucket, in bytes: a few full-size
	// frames, so a slow link still passes one at a time.
	MinBurst = 16 << 10
	// BurstPerSecond sets the bucket to the bytes of this fraction of a
	// second at the link's rate (1/100: 10 ms), the usual tbf sizing.
	BurstPerSecond = 100
	// MaxQueuedPackets bounds the packets a node's delayer holds (the
	// kernel's queue and ours): past it the queue fails open, letting
	// packets through undelayed rather than dropping them.
	MaxQueuedPackets = 16384
	// delayerPoll is how often a delayer blocked reading its queue checks
	// whether it is being stopped.
	delayerPoll = 100 * time.Millisecond
	// NeighbourEntries is the least the kernel's ARP table must hold
	// (net.ipv4.neigh.default.gc_thresh3; gc_thresh2 and gc_thresh1 get a
	// half and an eighth of it): that table is one for every namespace,
	// 1,024 entries by default, and a zone of n nodes that talk to one
	// another fills up to n² of them. Past gc_thresh3 the kernel neither
	// adds an entry nor sends the ARP request ("neighbor table overflow"),
	// so the nodes started last could reach nobody: in a 50-agent run 17
	// of 55 namespaces stayed deaf. Room for a full mesh of 120 nodes.
	NeighbourEntries = 16384
	// commandTimeout bounds one ip or tc call.
	commandTimeout = 30 * time.Second
)

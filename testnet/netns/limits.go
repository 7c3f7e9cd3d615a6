package netns

import "time"

const (
	// MaxNodes bounds a netns run's agents: each is a process with its
	// own badger and libp2p host, a few tens of MB each.
	MaxNodes = 100
	// HeartbeatInterval is the zone's heartbeat interval in a run: short,
	// so a run's zone settles in seconds.
	HeartbeatInterval = time.Second
	// StartTimeout bounds one daemon's start (until it listens).
	StartTimeout = time.Minute
	// PollInterval is how often agents' local APIs are read while an
	// update propagates.
	PollInterval = 100 * time.Millisecond
	// SettlePeers is how many peers each daemon must be connected to
	// (fewer in a smaller zone) before the update is published.
	SettlePeers = 3
	// RawDialParallel is how many of the raw gossipsub baseline's
	// connections are made at once.
	RawDialParallel = 16
	// StopGrace is how long a daemon has to exit after SIGTERM.
	StopGrace = 10 * time.Second
	// Table2Bandwidth is the paper's link speed, 10 Mbit/s in bytes per
	// second, used by table2 when Params.Bandwidth is 0.
	Table2Bandwidth = 10_000_000 / 8
	// PartitionHold is how long the partition scenario's cut lasts at
	// least after publication: past gossipsub's message cache (5
	// heartbeats of 1 s, what a peer can still ask for after hearing of
	// it), so the cut side can only learn what it missed through
	// catch-up, as after any partition longer than seconds.
	PartitionHold = 8 * time.Second
	// FloodDropWait bounds the wait, once the flood is over, for the
	// agents next to the flooders to drop them: at their next snapshot of
	// peer scores (overlay score.inspect_interval, 1 s).
	FloodDropWait = 30 * time.Second
)

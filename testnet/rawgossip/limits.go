package rawgossip

import "time"

const (
	// Topic is the baseline's one topic.
	Topic = "/patchnet-testnet/raw"
	// MessageBytes is the size of a round's message when the runner does
	// not know the zone's announcement's: about one signed envelope.
	MessageBytes = 4 << 10
	// MaxMessageBytes bounds a round's message: gossipsub's default
	// message size limit.
	MaxMessageBytes = 1 << 20
	// Rounds is how many messages a baseline publishes, one after
	// another; it reports the round with the median time to its last
	// node (MedianRound).
	Rounds = 3
	// RoundGap bounds the wait before each round after the first for the
	// previous message's gossip to stop: duplicates still arriving would
	// load the next round's nodes.
	RoundGap = 10 * time.Second
	// RoundQuiet ends a round that delivered nothing new for this long:
	// raw gossipsub has no catch-up, and a node still missing the message
	// can only get it while a peer advertises it, for gossipsub's gossip
	// window (3 heartbeats, 3 s) after that peer received it. Ten
	// heartbeats leave room for heartbeats late on a loaded machine; at
	// 2,000 nodes a round that reached 1,864 held the run for its whole
	// timeout (20 minutes) for nothing.
	RoundQuiet = 10 * time.Second
	// MeshStable is how long the meshes must stay unchanged before the
	// baseline publishes: two gossipsub heartbeats.
	MeshStable = 2 * time.Second
	// MeshSettle bounds the wait for the meshes to stop changing.
	MeshSettle = 30 * time.Second
	// DialAttempts is how often a baseline connection is tried.
	DialAttempts = 3
	// DialTimeout bounds one baseline dial.
	DialTimeout = 10 * time.Second
	// RedialWait is the wait before a dial's second attempt, doubling for
	// each one after (a TCP SYN's first retransmission).
	RedialWait = time.Second
	// PollInterval is how often a runner looks at its members' counts.
	PollInterval = 20 * time.Millisecond
	// MaxLineBytes bounds one line of the wire protocol: a multiaddr or
	// an error message.
	MaxLineBytes = 4 << 10
	// StopWait is how long a remote peer has to exit once its input
	// closed, before it is killed.
	StopWait = 5 * time.Second
)

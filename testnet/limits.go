package testnet

import "time"

const (
	// MaxNodes bounds a run's agents: 24 GiB at ~4.5 MB a sim node.
	MaxNodes = 10000
	// MaxSupernodes bounds a run's supernodes.
	MaxSupernodes = 64
	// MaxLatency bounds a link's one-way delay.
	MaxLatency = 10 * time.Second
	// MaxLoss bounds Params.Loss: past half the packets, nothing the
	// zone does is measured, only retransmission.
	MaxLoss = 0.5
	// MaxArtifactBytes bounds the published artifact (1 GiB).
	MaxArtifactBytes = 1 << 30
	// MaxSettle bounds Params.Settle.
	MaxSettle = time.Hour
	// MaxRolloutSpread bounds Params.RolloutSpread.
	MaxRolloutSpread = time.Hour

	// FloodTargets is how many agents the flood scenario's peer connects
	// to (all of them in a smaller zone).
	FloodTargets = 5
	// MaxFloodRate bounds a flooding peer's messages a second (Flood).
	MaxFloodRate = 10000
	// ForgeryBytes is the size of the flooding peer's junk: about one
	// signed envelope.
	ForgeryBytes = 4 << 10
	// MaxReplays bounds the flooding peer's copies of a real envelope
	// (Replays): past the nodes' budget for copies that add nothing
	// (node.RedundantBurst, 64), so the last ones are Rejected.
	MaxReplays = 200
	// MaxReplayItems bounds the signature forms Replays combines (2^12
	// subsets).
	MaxReplayItems = 12

	// dagLinkBytes bounds one link of a DAG node as encoded (a CIDv1
	// sha2-256 of 36 bytes, its size and protobuf framing): what an
	// artifact's internal blocks add to a served copy.
	dagLinkBytes = 64
	// blockWireBytes bounds what serving one block adds on the wire beyond
	// the block: its frame header and its share of a request's protocol
	// negotiation.
	blockWireBytes = 64
)

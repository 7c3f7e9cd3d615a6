package testnet

import "time"

const (
	// MaxNodes bounds a run's agents: 24 GiB at ~4.5 MB a sim node.
	MaxNodes = 10000
	// MaxSupernodes bounds a run's supernodes.
	MaxSupernodes = 64
	// MaxLatency bounds a link's one-way delay.
	MaxLatency = 10 * time.Second
	// MaxArtifactBytes bounds the published artifact (1 GiB).
	MaxArtifactBytes = 1 << 30
	// MaxSettle bounds Params.Settle.
	MaxSettle = time.Hour
	// MaxRolloutSpread bounds Params.RolloutSpread.
	MaxRolloutSpread = time.Hour
)

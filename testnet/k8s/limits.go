package k8s

import "time"

const (
	// MaxAgents bounds the agents of a rendered zone: each is a
	// StatefulSet and a Secret, and the API server takes a few thousand
	// objects in one apply comfortably.
	MaxAgents = 2000
	// MaxSupernodes bounds the supernodes (testnet.MaxSupernodes).
	MaxSupernodes = 64
	// MaxCollectBody bounds one node's /v1/status or /v1/history answer.
	MaxCollectBody = 8 << 20
	// CollectTimeout bounds reading one node's answers.
	CollectTimeout = 30 * time.Second
	// MaxCollectEndpoints bounds the nodes one collect reads.
	MaxCollectEndpoints = 10000
	// CollectParallel is how many nodes collect reads at once.
	CollectParallel = 16
)

// MaxArtifactBytes bounds a rendered fix's padding: the pods that serve
// and publish it rebuild it in memory.
const MaxArtifactBytes = 256 << 20

// The build-fix container's memory limit: buildFixMemory and
// buildFixMemoryPerByte for each byte of padding. The package is built in
// memory (the filler, its tar, the gzip of that and the .deb, each a copy,
// and buffers' growth): `patchnet testnet build-fix` peaked at 486 MiB
// for 64 MiB of padding (7.4 bytes a byte) and at 36 MiB for none.
const (
	buildFixMemory        = 128 << 20
	buildFixMemoryPerByte = 8
)

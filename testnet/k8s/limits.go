package k8s

import (
	"time"

	"github.com/patchnet/patchnet/testnet"
)

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

// MaxArtifactBytes bounds a rendered fix's padding: testnet's bound on
// an artifact (1 GiB). The pods that serve and publish it rebuild it
// streaming (`patchnet testnet build-fix` peaked at 38 MiB resident for
// 64 MiB and for 256 MiB of padding) into an emptyDir.
const MaxArtifactBytes = testnet.MaxArtifactBytes

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

// The HTTP baseline's bounds (baseline.go).
const (
	// BaselineWait is how long the origin's barrier waits after its first
	// client for the rest (beyond the fix's rollout spread, which render
	// adds): agents that never install must not hold the baseline back
	// for good.
	BaselineWait = 15 * time.Minute
	// BaselineRetry is how soon a client asks the origin again after a
	// connection error or a 5xx (its pod restarting).
	BaselineRetry = time.Second
	// BaselinePoll is how often collect asks the origin whether the
	// baseline is done.
	BaselinePoll = 2 * time.Second
	// BaselineCollectWait is how long collect waits for the baseline by
	// default: the agents' downloads start once every agent installed.
	BaselineCollectWait = 10 * time.Minute
	// maxBaselineName bounds a client's name (a pod's DNS name).
	maxBaselineName = 253
	// maxBaselineResult bounds a posted BaselineResult (an error text).
	maxBaselineResult = 4 << 10
)

// maxStampBytes bounds a `testnet cut` stamp file (one RFC 3339 time).
const maxStampBytes = 128

// The raw gossipsub baseline's bounds (rawbaseline.go).
const (
	// RawWait is how long the origin waits after the first raw peer
	// registered for the rest, beyond the HTTP baseline's own wait.
	RawWait = 15 * time.Minute
	// RawTimeout bounds the raw baseline once started: its meshes and its
	// rounds, each of which ends by itself once no delivery came for
	// rawgossip.RoundQuiet.
	RawTimeout = 5 * time.Minute
	// RawReportInterval is how often a raw peer posts its counts and
	// deliveries to the origin: the rounds are timed by the deliveries'
	// own stamps, so this only sets how soon the origin sees them.
	RawReportInterval = time.Second
	// RawPoll is how often a raw peer asks whether the baseline started.
	RawPoll = 2 * time.Second
	// maxRawBody bounds a registration or a report posted to the origin.
	maxRawBody = 16 << 10
	// maxRawAddrs bounds the addresses one raw peer registers.
	maxRawAddrs = 16
)

package testnet

import (
	"fmt"
	"slices"
	"time"
)

// Modes a zone can run in.
const (
	ModeSim   = "sim"
	ModeNetns = "netns"
	ModeK8s   = "k8s"
)

// Transports a sim zone's nodes can connect over (Params.Transport).
const (
	// TransportQUIC is libp2p's QUIC over the sim's datagrams: the
	// transport a deployment's nodes prefer.
	TransportQUIC = "quic"
	// TransportTCP is libp2p's upgrader (TLS, yamux, the private zone's
	// pre-shared key) over the sim's reliable streams: the deployment's
	// other transport, lighter to run a thousand times in one process, and
	// the one a private zone needs.
	TransportTCP = "tcp"
)

// Scenario names, the same in every mode that runs them.
const (
	ScenarioPropagation = "propagation"
	ScenarioChurn       = "churn"
	ScenarioPartition   = "partition"
	ScenarioLateJoin    = "late-join"
	ScenarioByzantine   = "byzantine"
	ScenarioStolenKey   = "stolen-key"
	ScenarioRevocation  = "revocation"
	ScenarioFlood       = "flood"
	ScenarioContent     = "content"
	ScenarioPrivateZone = "private-zone"
	ScenarioTable2      = "table2"
)

// Scenarios lists every scenario name.
var Scenarios = []string{
	ScenarioPropagation, ScenarioChurn, ScenarioPartition, ScenarioLateJoin,
	ScenarioByzantine, ScenarioStolenKey, ScenarioRevocation, ScenarioFlood,
	ScenarioContent, ScenarioPrivateZone, ScenarioTable2,
}

// Params describe one run. Zero values take DefaultParams' values.
type Params struct {
	// Mode is ModeSim, ModeNetns or ModeK8s.
	Mode string
	// Scenario is one of Scenarios.
	Scenario string
	// Nodes is the number of agents (supernodes and the publisher are
	// counted apart).
	Nodes int
	// Supernodes is the number of supernodes.
	Supernodes int
	// Threshold is k, the co-signatures an agent requires.
	Threshold int
	// Latency is the one-way delay of every link.
	Latency time.Duration
	// Jitter adds to each packet's delay a uniform share of itself, on
	// top of Latency, without reordering: a packet never overtakes the
	// one before it (on the same link in sim, into the same node in
	// netns and k8s).
	Jitter time.Duration
	// Loss is the share of the packets each node receives that its link
	// drops at random (0 ≤ Loss ≤ MaxLoss), on top of what full links
	// drop: a path between two nodes loses that share.
	Loss float64
	// Bandwidth caps every node's link, in bytes per second (0: uncapped).
	Bandwidth int64
	// OriginBandwidth caps the origins' links, in bytes per second (0: as
	// Bandwidth): the vendor's HTTP origin and the publisher's node, which
	// seeds the artifact.
	OriginBandwidth int64
	// ArtifactBytes is the size of the published artifact.
	ArtifactBytes int64
	// ChurnShare is the share of agents the churn scenario kills (0..1).
	ChurnShare float64
	// Seed makes topology and choices repeatable.
	Seed int64
	// Timeout bounds the run after set-up.
	Timeout time.Duration
	// Baselines runs the baselines the mode supports beside patchnet.
	Baselines bool
	// Settle is the longest a ready zone runs before publication while
	// its CPU use is still falling (sim: the set-up's DHT refreshes and
	// connection trimming), so a fix meets a running zone, not a booting
	// one, as in a deployment. 0 publishes as soon as the zone is meshed.
	Settle time.Duration
	// Transport is what a sim zone's nodes connect over: TransportQUIC or
	// TransportTCP; empty, QUIC, or TCP for private-zone (a pre-shared key
	// needs it). Other modes run the deployment's own transports.
	Transport string
	// RolloutSpread is the fix's rollout spread (updates.Rollout.Spread):
	// each agent accepts at once and fetches and installs at its own
	// stable offset within it, as an operator staggers a fleet. 0 installs
	// everywhere at once.
	RolloutSpread time.Duration
}

// DefaultParams are a small propagation run in sim.
func DefaultParams() Params {
	return Params{
		Mode:          ModeSim,               // one process, no privileges needed
		Scenario:      ScenarioPropagation,   // the headline measurement
		Nodes:         50,                    // small enough for any laptop
		Supernodes:    3,                     // the paper's minimum for k=2 with one down
		Threshold:     2,                     // tolerates one byzantine supernode
		Latency:       20 * time.Millisecond, // a regional link
		ArtifactBytes: 1 << 20,               // a typical security fix
		ChurnShare:    0.3,                   // the churn goal
		Seed:          1,                     // repeatable by default
		Timeout:       2 * time.Minute,       // generous for 1,000 nodes on 2 cores
		Baselines:     true,                  // numbers without a floor mean little
		Settle:        3 * time.Minute,       // a 1,000-node sim settles in about 2
	}
}

// Validate names the first field that is out of range.
func (p Params) Validate() error {
	switch {
	case !slices.Contains([]string{ModeSim, ModeNetns, ModeK8s}, p.Mode):
		return fmt.Errorf("mode %q: want sim, netns or k8s", p.Mode)
	case !slices.Contains(Scenarios, p.Scenario):
		return fmt.Errorf("scenario %q: want one of %v", p.Scenario, Scenarios)
	case p.Nodes < 1 || p.Nodes > MaxNodes:
		return fmt.Errorf("nodes %d: want 1..%d", p.Nodes, MaxNodes)
	case p.Supernodes < 1 || p.Supernodes > MaxSupernodes:
		return fmt.Errorf("supernodes %d: want 1..%d", p.Supernodes, MaxSupernodes)
	case p.Threshold < 1 || p.Threshold > p.Supernodes:
		return fmt.Errorf("threshold %d: want 1..%d (the supernodes)", p.Threshold, p.Supernodes)
	case p.Latency < 0 || p.Latency > MaxLatency:
		return fmt.Errorf("latency %v: want 0..%v", p.Latency, MaxLatency)
	case p.Jitter < 0 || p.Jitter > MaxLatency:
		return fmt.Errorf("jitter %v: want 0..%v", p.Jitter, MaxLatency)
	case p.Loss < 0 || p.Loss > MaxLoss || p.Loss != p.Loss:
		return fmt.Errorf("loss %v: want 0..%v (a share of the packets)", p.Loss, MaxLoss)
	case p.Bandwidth < 0 || p.OriginBandwidth < 0:
		return fmt.Errorf("bandwidth %d, origin bandwidth %d: want ≥ 0", p.Bandwidth, p.OriginBandwidth)
	case p.ArtifactBytes < 1 || p.ArtifactBytes > MaxArtifactBytes:
		return fmt.Errorf("artifact bytes %d: want 1..%d", p.ArtifactBytes, MaxArtifactBytes)
	case !(p.ChurnShare >= 0 && p.ChurnShare < 1): // NaN too
		return fmt.Errorf("churn share %v: want 0 ≤ share < 1", p.ChurnShare)
	case p.Settle < 0 || p.Settle > MaxSettle:
		return fmt.Errorf("settle %v: want 0..%v", p.Settle, MaxSettle)
	case p.RolloutSpread < 0 || p.RolloutSpread > MaxRolloutSpread:
		return fmt.Errorf("rollout spread %v: want 0..%v", p.RolloutSpread, MaxRolloutSpread)
	case !slices.Contains([]string{"", TransportQUIC, TransportTCP}, p.Transport):
		return fmt.Errorf("transport %q: want %s or %s", p.Transport, TransportQUIC, TransportTCP)
	case p.Transport == TransportTCP && p.Mode != ModeSim:
		return fmt.Errorf("transport %q: only a sim zone's transport is chosen (mode %s runs the deployment's)", p.Transport, p.Mode)
	case p.Timeout <= 0:
		return fmt.Errorf("timeout %v: want a positive duration", p.Timeout)
	}
	return nil
}

package k8s

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
)

// Spec describes the zone to render. Zero values are invalid: start from
// DefaultSpec.
type Spec struct {
	// Namespace holds every object.
	Namespace string
	// Image runs every container: the patchnet binary on a Debian base
	// (agents run its dpkg). dist/Dockerfile builds it.
	Image string
	// Zone names the zone.
	Zone string
	// Agents, Supernodes and Threshold (k) size the zone.
	Agents, Supernodes, Threshold int
	// Private makes the zone private: a pre-shared key in a Secret.
	Private bool
	// Prefix starts the names of the zone's own objects (its nodes, their
	// Secrets and ConfigMaps, its PKI ConfigMap, PSK Secret and publisher
	// Job), so that a second zone fits in one namespace beside the first,
	// sharing its Services and vendor origin ("" for the first;
	// private-zone's private zone is PrivateZone + "-").
	Prefix string
	// ForeignBootstrap are another zone's bootstrap peers, which the
	// agents are given too (private-zone: a public agent that knows the
	// private zone's supernodes must still not get in without its key).
	ForeignBootstrap []string
	// ClusterDomain is the cluster's DNS domain, in the bootstrap
	// addresses and the vendor URL.
	ClusterDomain string
	// UpdateID is the id of the fix the publisher Job publishes.
	UpdateID string
	// RolloutSpread is the fix's rollout spread: agents accept it at once
	// and install each at its own offset within this long (0: none).
	RolloutSpread time.Duration
	// Scenario is what the zone plays, one of Scenarios: propagation
	// publishes the fix; stolen-key first has a thief publish the old
	// package as a fix with the publisher's key (every supernode must
	// refuse it), then publishes the fix; late-join holds the last
	// testnet.LateJoiners(Agents) agents back until every supernode
	// co-signed the fix, so they must catch up; byzantine has the last
	// supernode's key (with the publisher's) sign a conflicting payload
	// of the fix, gossiped to the agents before the fix goes out;
	// revocation revokes the last supernode (render issues the zone CA's
	// next CRL) and has the publisher Job send that CRL before the fix;
	// churn SIGKILLs ChurnShare of the agents as the fix reaches them and
	// restarts half of those (Churn); flood runs two peers outside the
	// PKI next to the first testnet.FloodTargets agents (FloodTarget),
	// forging announcements and replaying the fix; content publishes a
	// fix of ArtifactBytes, which collect judges by the bytes the
	// vendor's origin and the publisher served.
	Scenario string
	// ArtifactBytes pads the fix with this many bytes of filler (0: the
	// lab's own fix, under a KiB). The pods that serve and publish it
	// rebuild it: no ConfigMap carries it.
	ArtifactBytes int64
	// ChurnShare is the share of agents churn kills (0..1).
	ChurnShare float64
	// PartitionHold is how long the partition scenario's cut lasts from
	// the cut pods' start: past their heartbeat alarm (about
	// node.DefaultHeartbeatMaxAge), the publication and the connected
	// side's installs.
	PartitionHold time.Duration
	// HTTPBaseline runs the HTTP-origin baseline after the fix where
	// netns runs it (propagation, content): once every agent installed,
	// each agent's pod downloads the fix from the vendor origin at the
	// same moment (RunsHTTPBaseline; baseline.go).
	HTTPBaseline bool
	// Shaping shapes every pod's link from inside the pod, as netns mode
	// shapes a node's (`patchnet testnet shape`, with CAP_NET_ADMIN): the
	// zero value shapes nothing.
	Shaping Shaping
	// Configure renders a node's config file from the `patchnet init`
	// flags of its role. Required.
	Configure ConfigFunc
}

// Shaping is what every rendered pod does to its own link.
type Shaping struct {
	// Bandwidth caps what a node's pod sends and what it receives (bytes
	// a second each; 0: no cap), OriginBandwidth the vendor origin's and
	// the publisher's (0: as Bandwidth).
	Bandwidth, OriginBandwidth int64
	// Loss is the share of what each pod receives that is dropped.
	Loss float64
	// Latency delays what each pod receives, Jitter each packet a further
	// uniform share of itself, in order.
	Latency, Jitter time.Duration
}

// On reports whether s shapes anything.
func (s Shaping) On() bool { return s != Shaping{} }

// validate names the first field out of range.
func (s Shaping) validate() error {
	switch {
	case s.Bandwidth < 0 || s.OriginBandwidth < 0:
		return fmt.Errorf("bandwidth %d, origin bandwidth %d bytes/s: want ≥ 0", s.Bandwidth, s.OriginBandwidth)
	case !(s.Loss >= 0 && s.Loss <= testnet.MaxLoss):
		return fmt.Errorf("loss %v: want 0..%v", s.Loss, testnet.MaxLoss)
	case s.Latency < 0 || s.Latency > testnet.MaxLatency:
		return fmt.Errorf("latency %v: want 0..%v", s.Latency, testnet.MaxLatency)
	case s.Jitter < 0 || s.Jitter > testnet.MaxLatency:
		return fmt.Errorf("jitter %v: want 0..%v", s.Jitter, testnet.MaxLatency)
	}
	return nil
}

// ConfigFunc renders the config file `patchnet init ROLE` would write for
// args: one template for the CLI and the manifests.
type ConfigFunc func(role trust.Role, args InitArgs) ([]byte, error)

// DefaultSpec is a small public zone; the caller sets Configure.
func DefaultSpec() Spec {
	return Spec{
		Namespace:     "patchnet-testnet",                 // one namespace to delete afterwards
		Image:         "ghcr.io/patchnet/patchnet:latest", // the CLI passes its own version
		Zone:          "testnet",                          // any valid zone name
		Agents:        10,                                 // fits kind on a laptop
		Supernodes:    3,                                  // the minimum for k=2 with one down
		Threshold:     2,                                  // tolerates one byzantine supernode
		ClusterDomain: "cluster.local",                    // kubeadm's and kind's default
		UpdateID:      "TESTNET-0001",                     // what collect looks for by default
		Scenario:      testnet.ScenarioPropagation,        // the fix, and nothing else
		ChurnShare:    testnet.DefaultParams().ChurnShare, // the churn goal, as in sim and netns
		PartitionHold: 10 * time.Minute,                   // heartbeats stale after ~4 min, the fix out after that
		HTTPBaseline:  true,                               // numbers without a floor mean little, as in netns
	}
}

// ContentArtifactBytes is the fix's padding the content scenario is
// rendered with unless told otherwise: the goal, 64 MiB.
const ContentArtifactBytes = 64 << 20

// Scenarios are the testnet scenarios the manifests can play: those whose
// steps are a Job's (the others kill pods, cut links or need the zone
// CA's key, which stays out of the cluster).
var Scenarios = []string{testnet.ScenarioPropagation, testnet.ScenarioStolenKey, testnet.ScenarioLateJoin, testnet.ScenarioByzantine,
	testnet.ScenarioRevocation, testnet.ScenarioChurn, testnet.ScenarioFlood, testnet.ScenarioContent, testnet.ScenarioPrivateZone,
	testnet.ScenarioPartition}

// PrivateZone is the private-zone scenario's second zone, beside the
// rendered one: its name, and with a "-" the prefix of its objects' names.
const PrivateZone = "acme"

// PrivateUpdateID is the update the private zone's publisher publishes
// in the private-zone scenario, where the public one publishes id.
func PrivateUpdateID(id string) string { return id + "-ACME" }

// Zones are the zones s renders into its namespace: s alone, or for
// private-zone a public zone of the larger half of the agents (s) and
// beside it a private zone of the rest, PrivateZone: its own zone CA
// under the same root, pre-shared key, supernodes (as many, the same k)
// and publisher Job, publishing PrivateUpdateID; the two share the
// namespace's Services and the vendor origin. The caller sets the public
// zone's ForeignBootstrap once the private supernodes have keys.
func (s Spec) Zones() []Spec {
	if s.Scenario != testnet.ScenarioPrivateZone || s.Prefix != "" {
		return []Spec{s}
	}
	pub, priv := s, s
	pub.Agents = s.Agents - s.Agents/2
	priv.Agents, priv.Prefix, priv.Zone, priv.Private = s.Agents/2, PrivateZone+"-", PrivateZone, true
	priv.UpdateID, priv.ForeignBootstrap = PrivateUpdateID(s.UpdateID), nil
	return []Spec{pub, priv}
}

// RunsHTTPBaseline reports whether the rendered zone runs the HTTP-origin
// baseline: asked for, and a scenario whose agents all install the fix
// from one origin (propagation, content), as netns runs it.
func (s Spec) RunsHTTPBaseline() bool {
	return s.HTTPBaseline && s.Prefix == "" && (s.Scenario == testnet.ScenarioPropagation || s.Scenario == testnet.ScenarioContent)
}

// baselineWait is how long the origin's barrier waits after its first
// client: BaselineWait past the fix's rollout spread.
func (s Spec) baselineWait() time.Duration { return s.RolloutSpread + BaselineWait }

// StolenUpdateID is the update the thief publishes in the stolen-key
// scenario.
const StolenUpdateID = "TESTNET-STOLEN"

// Late reports whether agent i is held back until the fix was co-signed
// (late-join).
func (s Spec) Late(i int) bool {
	return s.Scenario == testnet.ScenarioLateJoin && i >= s.Agents-testnet.LateJoiners(s.Agents)
}

// Churn is what the churn scenario does to agent i: "" (it survives),
// ChurnRestart (killed as the fix reaches it, then started again on its
// state) or ChurnStayDown (killed, and not started again). The first
// ChurnShare of the agents are killed, the first half of those restarted.
func (s Spec) Churn(i int) string {
	n := s.churned()
	switch {
	case s.Scenario != testnet.ScenarioChurn || i >= n:
		return ""
	case i < n/2:
		return ChurnRestart
	}
	return ChurnStayDown
}

// Left is how many agents churn leaves as what ("" survive, restart,
// stay-down).
func (s Spec) Left(what string) int {
	n := 0
	for i := range s.Agents {
		if s.Churn(i) == what {
			n++
		}
	}
	return n
}

// CutAgent and CutSupernode report whether the partition scenario cuts
// agent or supernode i off, as netns splits a zone: the connected side
// keeps the first half of the agents, the first k supernodes, the vendor
// origin and the publisher; the cut side has the rest.
func (s Spec) CutAgent(i int) bool {
	return s.Scenario == testnet.ScenarioPartition && i >= s.Agents/2
}

// CutSupernode: see CutAgent.
func (s Spec) CutSupernode(i int) bool {
	return s.Scenario == testnet.ScenarioPartition && i >= s.Threshold
}

// FloodTarget reports whether the flood scenario's peers connect to
// agent i: the first testnet.FloodTargets.
func (s Spec) FloodTarget(i int) bool {
	return s.Scenario == testnet.ScenarioFlood && i < testnet.FloodTargets
}

// churned is how many agents churn kills.
func (s Spec) churned() int { return int(s.ChurnShare * float64(s.Agents)) }

// What the churn scenario does to an agent it kills (Spec.Churn).
const (
	ChurnRestart  = "restart"
	ChurnStayDown = "stay-down"
)

// dnsLabel is an RFC 1123 label, what Kubernetes names and namespaces
// must be.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate names the first field that is out of range.
func (s Spec) Validate() error {
	switch {
	case len(s.Namespace) > 63 || !dnsLabel.MatchString(s.Namespace):
		return fmt.Errorf("namespace %q: want a DNS label (lower-case letters, digits, '-', at most 63)", s.Namespace)
	case s.Image == "":
		return errors.New("image: empty")
	case s.Agents < 1 || s.Agents > MaxAgents:
		return fmt.Errorf("agents %d: want 1..%d", s.Agents, MaxAgents)
	case s.Supernodes < 1 || s.Supernodes > MaxSupernodes:
		return fmt.Errorf("supernodes %d: want 1..%d", s.Supernodes, MaxSupernodes)
	case s.Threshold < 1 || s.Threshold > s.Supernodes:
		return fmt.Errorf("threshold %d: want 1..%d (the supernodes)", s.Threshold, s.Supernodes)
	case s.ClusterDomain == "":
		return errors.New("cluster domain: empty")
	case s.UpdateID == "":
		return errors.New("update id: empty")
	case s.RolloutSpread < 0 || s.RolloutSpread > testnet.MaxRolloutSpread:
		return fmt.Errorf("rollout spread %v: want 0..%v", s.RolloutSpread, testnet.MaxRolloutSpread)
	case s.ArtifactBytes < 0 || s.ArtifactBytes > MaxArtifactBytes:
		return fmt.Errorf("artifact bytes %d: want 0..%d", s.ArtifactBytes, MaxArtifactBytes)
	case !slices.Contains(Scenarios, s.Scenario):
		return fmt.Errorf("scenario %q: the manifests play %s", s.Scenario, strings.Join(Scenarios, ", "))
	case s.Scenario == testnet.ScenarioByzantine && (s.Threshold < 2 || s.Supernodes-1 < s.Threshold):
		return fmt.Errorf("scenario byzantine: needs k ≥ 2 and k honest supernodes beside the byzantine one (have k=%d of %d supernodes)",
			s.Threshold, s.Supernodes)
	case s.Scenario == testnet.ScenarioRevocation && s.Supernodes-1 < s.Threshold:
		return fmt.Errorf("scenario revocation: needs k supernodes beside the revoked one (have k=%d of %d supernodes)",
			s.Threshold, s.Supernodes)
	case s.Scenario == testnet.ScenarioPrivateZone && s.Prefix == "" && (s.Private || s.Zone == PrivateZone):
		return fmt.Errorf("scenario private-zone: renders a public zone and the private zone %q beside it: drop --private and name the public zone otherwise", PrivateZone)
	case s.Scenario == testnet.ScenarioPrivateZone && s.Prefix == "" && s.Agents < 2:
		return fmt.Errorf("scenario private-zone: needs at least 2 agents, one in each zone (have %d)", s.Agents)
	case s.Prefix != "" && (len(s.Prefix) > 20 || !dnsLabel.MatchString(strings.TrimSuffix(s.Prefix, "-")) || !strings.HasSuffix(s.Prefix, "-")):
		return fmt.Errorf("prefix %q: want a short DNS label and a '-'", s.Prefix)
	case s.Scenario == testnet.ScenarioPartition && s.Agents < 2:
		return fmt.Errorf("scenario partition: needs at least 2 agents, one on each side (have %d)", s.Agents)
	case s.Scenario == testnet.ScenarioPartition && (s.PartitionHold <= 0 || s.PartitionHold > testnet.MaxSettle):
		return fmt.Errorf("partition hold %v: want a positive duration up to %v", s.PartitionHold, testnet.MaxSettle)
	case s.Scenario == testnet.ScenarioFlood && s.Private:
		return errors.New("scenario flood: a private zone's pre-shared key keeps peers outside it from connecting at all: render a public zone")
	case !(s.ChurnShare >= 0 && s.ChurnShare < 1): // NaN too
		return fmt.Errorf("churn share %v: want 0 ≤ share < 1", s.ChurnShare)
	case s.Scenario == testnet.ScenarioChurn && s.churned()/2 == 0:
		return fmt.Errorf("scenario churn: a churn share of %v of %d agents kills %d and restarts none: raise the share or the agents",
			s.ChurnShare, s.Agents, s.churned())
	case s.Configure == nil:
		return errors.New("configure: no config renderer")
	}
	if err := s.Shaping.validate(); err != nil {
		return fmt.Errorf("shaping: %w", err)
	}
	if err := trust.ValidateZoneName(s.Zone); err != nil {
		return fmt.Errorf("zone %q: %w", s.Zone, err)
	}
	return nil
}

// InitArgs are the `patchnet init ROLE` flags of one node, with the
// paths it has inside its pod.
type InitArgs struct {
	State, Sysroot, PSKFile   string
	Roots, CRLs               []string
	Zone                      string
	Threshold                 int
	Listen, Bootstrap         []string
	VendorOrigins, VendorKeys []string
}

// Flags are args as `patchnet init ROLE` flags, writing to out.
func (a InitArgs) Flags(role trust.Role, out string) []string {
	f := []string{"init", string(role), "--force", "--out", out, "--state", a.State, "--zone", a.Zone,
		"--threshold", fmt.Sprint(a.Threshold)}
	add := func(flag string, vals []string) {
		for _, v := range vals {
			f = append(f, flag, v)
		}
	}
	add("--root", a.Roots)
	add("--crl", a.CRLs)
	add("--listen", a.Listen)
	add("--bootstrap", a.Bootstrap)
	add("--vendor-origin", a.VendorOrigins)
	add("--vendor-key", a.VendorKeys)
	if a.PSKFile != "" {
		f = append(f, "--psk-file", a.PSKFile)
	}
	if a.Sysroot != "" {
		f = append(f, "--sysroot", a.Sysroot)
	}
	return f
}

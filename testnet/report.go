package testnet

import (
	"math"
	"slices"
	"time"
)

// Result keys in Report.Results.
const (
	ResultPatchnet     = "patchnet"
	ResultRawGossipsub = "raw_gossipsub"
	ResultHTTPOrigin   = "http_origin"
)

// Report is one run's outcome: the JSON documented in SCHEMA.md. A baseline
// the run did not measure is absent from Results.
type Report struct {
	// Schema is the report's schema version (SchemaVersion when written by
	// WriteJSON); a reader refuses a newer one.
	Schema     int     `json:"schema"`
	Scenario   string  `json:"scenario"`
	Mode       string  `json:"mode"`
	Nodes      int     `json:"nodes"`
	Supernodes int     `json:"supernodes"`
	Threshold  int     `json:"threshold"`
	LatencyMS  float64 `json:"latency_ms"`
	// JitterMS is Params.Jitter: each packet's further delay, up to it.
	JitterMS float64 `json:"jitter_ms,omitempty"`
	Loss     float64 `json:"loss,omitempty"`
	// Transport is what a sim zone's nodes connected over (quic or tcp);
	// empty in other modes.
	Transport     string `json:"transport,omitempty"`
	BandwidthBPS  int64  `json:"bandwidth_bytes_per_s,omitempty"`
	ArtifactBytes int64  `json:"artifact_bytes"`
	// AnnouncementBytes is the size of the announcement gossip carried (sim:
	// as an agent first delivered it, co-signatures included); the raw
	// gossipsub baseline publishes a message of this size.
	AnnouncementBytes int64 `json:"announcement_bytes,omitempty"`

	// Results are delivery percentiles per system, measured on the same
	// nodes and links in the same run.
	Results map[string]Result `json:"results"`
	// Deliveries are, per system, the delivery times (ms from publication)
	// of the nodes its Results entry summarises, for the CDF plot.
	Deliveries map[string][]float64 `json:"deliveries_ms,omitempty"`

	DuplicatesPerMessage    float64 `json:"duplicates_per_message"`
	RawDuplicatesPerMessage float64 `json:"raw_duplicates_per_message,omitempty"`
	// RawRoundsMaxMS is, for each message the raw gossipsub baseline
	// published (sim: three, one after another), the time to its last
	// node; Results["raw_gossipsub"] is the round with the median one.
	RawRoundsMaxMS        []float64 `json:"raw_gossipsub_rounds_max_ms,omitempty"`
	OriginEgressBytes     int64     `json:"origin_egress_bytes"`
	PeerEgressBytes       int64     `json:"peer_egress_bytes"`
	HTTPOriginEgressBytes int64     `json:"http_origin_egress_bytes,omitempty"`
	WrongInstalls         int       `json:"wrong_installs"`
	MemoryPerNodeBytes    int64     `json:"memory_per_node_bytes"`
	// LiveMemoryPerNodeBytes is what each node holds once the zone
	// settled: live heap and goroutine stacks per node (sim only), without
	// the garbage and freed pages a resident set also counts.
	LiveMemoryPerNodeBytes int64   `json:"live_memory_per_node_bytes,omitempty"`
	CPUSeconds             float64 `json:"cpu_s,omitempty"`
	SetupS                 float64 `json:"setup_s"`
	// ClockOffsetMaxMS is the largest offset of a node's clock from the
	// collector's that collect measured and took off that node's times
	// (k8s; 0: none beyond the measurements' error).
	ClockOffsetMaxMS float64 `json:"clock_offset_max_ms,omitempty"`
	// SettleS is how long the ready zone ran before publication (Params.Settle).
	SettleS float64 `json:"settle_s,omitempty"`
	// IdleCPUCores is the zone's CPU use, in cores, over the last settle
	// window: what the nodes cost while nothing happens.
	IdleCPUCores float64 `json:"idle_cpu_cores,omitempty"`
	// RolloutSpreadS is the fix's rollout spread (Params.RolloutSpread).
	RolloutSpreadS float64 `json:"rollout_spread_s,omitempty"`

	// Stages are patchnet's per-stage percentiles: receipt, acceptance and
	// install, each from publication.
	Stages map[string]Result `json:"stages,omitempty"`
	// Checks are the scenario's outcome assertions by name (e.g.
	// "survivors_accepted": true); a run fails when one is false.
	Checks map[string]bool `json:"checks,omitempty"`
	// PullTimers are the classical pull intervals printed beside the
	// measured time to patch, in seconds.
	PullTimers map[string]float64 `json:"pull_timers_s,omitempty"`
	// Table2 holds the paper's experiment rows (scenario table2 only).
	Table2 []Table2Row `json:"table2,omitempty"`
	// Samples are the per-node measurements the percentiles came from.
	Samples []Sample `json:"samples,omitempty"`
}

// Result summarises one system's delivery: the share of live nodes that got
// the update and the percentiles of the time it took, from publication.
type Result struct {
	Delivered float64 `json:"delivered"`
	P50MS     float64 `json:"p50_ms"`
	P90MS     float64 `json:"p90_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"max_ms"`
}

// Sample is one node's measurements in one run. A zero duration means the
// stage did not happen.
type Sample struct {
	Node    string        `json:"node"`
	Role    string        `json:"role"`
	Receipt time.Duration `json:"receipt_ns,omitempty"`
	Accept  time.Duration `json:"accept_ns,omitempty"`
	Install time.Duration `json:"install_ns,omitempty"`
	// FetchTime is its artifact fetch alone, as its fetched event times it
	// (not from publication).
	FetchTime time.Duration `json:"fetch_ns,omitempty"`
	// FromOrigin and FromPeers are the artifact bytes it fetched from each.
	FromOrigin int64 `json:"from_origin_bytes,omitempty"`
	FromPeers  int64 `json:"from_peers_bytes,omitempty"`
	// Served is the artifact bytes it served to peers.
	Served int64 `json:"served_bytes,omitempty"`
	// Fetch is its fetched event's detail: bytes by source, the providers
	// that delivered and why any was dropped (the first few), so a run
	// says why an agent went to the vendor URL or left a provider idle.
	Fetch string `json:"fetch,omitempty"`
	// Failures counts its install-failed events (a fetch that failed and
	// is retried after a backoff, or a final failure), and FirstFailure
	// says why the first failed.
	Failures     int    `json:"failures,omitempty"`
	FirstFailure string `json:"first_failure,omitempty"`
	// Wrong is set when it installed something it must not have, and
	// WrongInstall says what: the first such install, as its journal or
	// install record names it.
	Wrong        bool   `json:"wrong,omitempty"`
	WrongInstall string `json:"wrong_install,omitempty"`
}

// Table2Row is one update of the paper's experiment: S1 (download) and S2
// (verify and install) measured here beside the paper's.
type Table2Row struct {
	System      string  `json:"system"`
	Package     string  `json:"package"`
	Bytes       int64   `json:"bytes"`
	S1S         float64 `json:"s1_s"`
	S2S         float64 `json:"s2_s"`
	PaperS1S    float64 `json:"paper_s1_s"`
	PaperS2S    float64 `json:"paper_s2_s"`
	LineRateS1S float64 `json:"line_rate_s1_s"`
	// ManagerS is the package manager's own time to install the same
	// package on a scratch root, beside S2 (netns mode).
	ManagerS float64 `json:"manager_s,omitempty"`
}

// Summarize makes a Result from the delivery times of the nodes that got
// it, out of total live nodes.
func Summarize(times []time.Duration, total int) Result {
	if total == 0 {
		return Result{}
	}
	s := slices.Clone(times)
	slices.Sort(s)
	r := Result{Delivered: float64(len(s)) / float64(total)}
	if len(s) == 0 {
		return r
	}
	r.P50MS = ms(Percentile(s, 0.50))
	r.P90MS = ms(Percentile(s, 0.90))
	r.P99MS = ms(Percentile(s, 0.99))
	r.MaxMS = ms(s[len(s)-1])
	return r
}

// Percentile is the nearest-rank q-quantile (0 < q ≤ 1) of sorted times.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

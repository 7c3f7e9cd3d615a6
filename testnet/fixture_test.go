package testnet

import (
	"math/rand/v2"
	"strings"
	"time"
)

// fixtureDelivery draws n delivery times from a seeded source: base plus
// an exponential tail of the given mean, as gossip hops add up.
func fixtureDelivery(seed uint64, n int, base, mean time.Duration) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = base + time.Duration(rng.ExpFloat64()*float64(mean))
	}
	return out
}

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// fixtureReport is a propagation run's report with every key set, its
// percentiles computed by Summarize from seeded delivery times: 50 agents,
// 48 reached by patchnet, all by raw gossipsub and by HTTP.
func fixtureReport() *Report {
	const agents = 50
	pn := fixtureDelivery(1, 48, 40*time.Millisecond, 60*time.Millisecond)
	raw := fixtureDelivery(2, agents, 30*time.Millisecond, 40*time.Millisecond)
	http := fixtureDelivery(3, agents, 200*time.Millisecond, 2*time.Second)
	r := &Report{
		Schema: SchemaVersion, Scenario: ScenarioPropagation, Mode: ModeSim,
		Nodes: agents, Supernodes: 3, Threshold: 2, LatencyMS: 20, JitterMS: 5, Loss: 0.01, Transport: TransportQUIC,
		BandwidthBPS: 1_250_000, ArtifactBytes: 1 << 20, AnnouncementBytes: 7240,
		Results: map[string]Result{
			ResultPatchnet:     Summarize(pn, agents),
			ResultRawGossipsub: Summarize(raw, agents),
			ResultHTTPOrigin:   Summarize(http, agents),
		},
		Deliveries: map[string][]float64{
			ResultPatchnet: msList(pn), ResultRawGossipsub: msList(raw), ResultHTTPOrigin: msList(http),
		},
		DuplicatesPerMessage: 1.5, RawDuplicatesPerMessage: 3.25, RawRoundsMaxMS: []float64{214, 198, 251},
		OriginEgressBytes: 3 << 20, PeerEgressBytes: 45 << 20, HTTPOriginEgressBytes: 50 << 20,
		WrongInstalls: 1, MemoryPerNodeBytes: 4_500_000, LiveMemoryPerNodeBytes: 3_000_000, CPUSeconds: 12.5, SetupS: 3.25, ClockOffsetMaxMS: 12.5, SettleS: 20, IdleCPUCores: 0.35,
		RolloutSpreadS: 60,
		Checks:         map[string]bool{"all_accepted": true, "survivors_installed": true},
		PullTimers:     DefaultPullTimers(),
		Table2: []Table2Row{{System: "debian", Package: "openssl", Bytes: 1_500_000,
			S1S: 0.8, S2S: 1.1, PaperS1S: 2.5, PaperS2S: 1.9, LineRateS1S: 0.6, ManagerS: 0.9}},
	}
	var receipt, accept []time.Duration
	for i, d := range pn {
		s := Sample{Node: "agent-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Role: "agent",
			Receipt: d / 4, Accept: d / 2, Install: d, FromPeers: 1 << 20, Served: 1 << 20, Wrong: i == 47}
		if i == 0 {
			s.FromOrigin, s.FromPeers = 1<<20, 0
		}
		if s.Wrong {
			s.WrongInstall = "transaction 20261207-030100.000000-bbbbbb installed PNT-STOLEN version 1, artifact " + strings.Repeat("ab", 32)
		}
		r.Samples = append(r.Samples, s)
		receipt, accept = append(receipt, s.Receipt), append(accept, s.Accept)
	}
	r.Stages = map[string]Result{
		"receipt": Summarize(receipt, agents), "accept": Summarize(accept, agents), "install": r.Results[ResultPatchnet],
	}
	return r
}

package testnet

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	var times []time.Duration
	for i := 100; i >= 1; i-- {
		times = append(times, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(times, 200)
	want := Result{Delivered: 0.5, P50MS: 50, P90MS: 90, P99MS: 99, MaxMS: 100}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Summarize (-want +got):\n%s", d)
	}
	if got := Summarize(nil, 3); got != (Result{}) {
		t.Fatalf("nothing delivered: got %+v", got)
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, mut := range map[string]func(*Params){
		"mode":      func(p *Params) { p.Mode = "vm" },
		"scenario":  func(p *Params) { p.Scenario = "nope" },
		"nodes":     func(p *Params) { p.Nodes = 0 },
		"threshold": func(p *Params) { p.Threshold = p.Supernodes + 1 },
		"latency":   func(p *Params) { p.Latency = -1 },
		"artifact":  func(p *Params) { p.ArtifactBytes = 0 },
		"churn":     func(p *Params) { p.ChurnShare = 1 },
		"timeout":   func(p *Params) { p.Timeout = 0 },
		"settle":    func(p *Params) { p.Settle = MaxSettle + 1 },
		"rollout":   func(p *Params) { p.RolloutSpread = -time.Second },
	} {
		p := DefaultParams()
		mut(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: invalid params accepted", name)
		}
	}
}

package node_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
)

// scrape GETs addr's /metrics over HTTP and parses the text exposition.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scraping %s: %s\n%s", addr, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape of %s: %v", addr, err)
	}
	return fams
}

// series returns the metrics of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}

// value is the sum of the counter or gauge values of name's series whose
// labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	for _, m := range series(fams, name, want) {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return sum
}

// One agent and one supernode of a lab zone serve metrics on 127.0.0.1:0;
// after an install, a real HTTP scrape shows the install, the delays from
// publication, the peers, the mesh and the CRLs held.
func TestMetricsAfterInstall(t *testing.T) {
	withMetrics := map[string]bool{"agent-01": true, "supernode-1": true}
	logs := &logBuffer{}
	logger, err := node.NewLogger(logs, node.LogConfig{Format: node.LogFormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			if withMetrics[name] {
				cfg.Metrics.Listen = "127.0.0.1:0"
			}
			if name == "agent-01" {
				cfg.Logger = logger
			}
		}})
	agent, sn := l.Agents[0], l.Supernodes[0]
	for _, m := range []*nodelab.Member{agent, sn} {
		if !strings.HasPrefix(m.MetricsAddr(), "127.0.0.1:") || strings.HasSuffix(m.MetricsAddr(), ":0") {
			t.Fatalf("%s MetricsAddr() = %q, want the bound 127.0.0.1 port", m.Name, m.MetricsAddr())
		}
	}
	if addr := l.Agents[1].MetricsAddr(); addr != "" {
		t.Errorf("agent-02 without [metrics] listen has MetricsAddr() %q, want none", addr)
	}
	before := scrape(t, agent.MetricsAddr())
	if got := value(before, "patchnet_installs_total", map[string]string{"outcome": "installed"}); got != 0 {
		t.Errorf("before any update: installs_total{outcome=installed} = %v, want 0", got)
	}

	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0042", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "agent-01 to install", func() bool {
		s := agent.Status()
		return s.Has(node.EventInstalled) || s.Has(node.EventFailed)
	})
	if !agent.Status().Has(node.EventInstalled) {
		t.Fatalf("agent-01 did not install:\n%s", describe(l))
	}
	// Every event is logged, verdicts and installs at info.
	for _, kind := range []node.EventKind{node.EventAccepted, node.EventFetched, node.EventInstalled} {
		r, ok := logs.find(t, "INFO", "event", map[string]string{"kind": string(kind), "id": fix.ID})
		if !ok || r["version"] != float64(1) || r["detail"] == "" {
			t.Errorf("no info line for the %s event of %s version 1 (got %v):\n%s", kind, fix.ID, r, logs)
		}
	}

	fams := scrape(t, agent.MetricsAddr())
	for _, tc := range []struct {
		name   string
		labels map[string]string
		check  func(float64) bool
		want   string
	}{
		{"patchnet_installs_total", map[string]string{"outcome": "installed"}, eq(1), "1"},
		{"patchnet_installs_total", map[string]string{"outcome": "failed"}, eq(0), "0"},
		{"patchnet_announcements_total", map[string]string{"verdict": "accepted", "reason": "none"}, eq(1), "1"},
		{"patchnet_fetched_bytes_total", nil, eq(float64(l.ArtifactSize())), fmt.Sprintf("the artifact's %d bytes", l.ArtifactSize())},
		{"patchnet_peers_connected", nil, gt(0), "> 0"},
		{"patchnet_peers_verified", nil, gt(0), "> 0"},
		{"patchnet_mesh_peers", map[string]string{"topic": "announce"}, gt(0), "> 0"},
		{"patchnet_gossip_messages_total", map[string]string{"result": "delivered"}, gt(0), "> 0"},
		{"patchnet_node_info", map[string]string{"roles": "agent", "zone": l.Zone, "peer_id": agent.ID().String()}, eq(1), "1"},
		{"patchnet_events_total", map[string]string{"kind": string(node.EventInstalled)}, eq(1), "1"},
	} {
		if got := value(fams, tc.name, tc.labels); !tc.check(got) {
			t.Errorf("%s%v = %v, want %s", tc.name, tc.labels, got, tc.want)
		}
	}
	for _, name := range []string{"patchnet_publication_to_acceptance_seconds", "patchnet_publication_to_install_seconds", "patchnet_fetch_seconds"} {
		h := series(fams, name, nil)
		if len(h) != 1 || h[0].GetHistogram().GetSampleCount() != 1 {
			t.Errorf("%s: %v, want one histogram with one sample", name, h)
		}
	}
	// The lab's root and zone CA each published a current CRL.
	ages, next := series(fams, "patchnet_crl_age_seconds", nil), series(fams, "patchnet_crl_next_update_seconds", nil)
	if len(ages) < 2 || len(next) != len(ages) {
		t.Errorf("CRL gauges: %d ages, %d next updates; want one of each per issuer, at least 2", len(ages), len(next))
	}
	for _, m := range next {
		if m.GetGauge().GetValue() <= 0 {
			t.Errorf("patchnet_crl_next_update_seconds%v = %v, want a CRL still current", m.GetLabel(), m.GetGauge().GetValue())
		}
	}

	snFams := scrape(t, sn.MetricsAddr())
	if got := value(snFams, "patchnet_cosignatures_total", map[string]string{"outcome": "made"}); got != 1 {
		t.Errorf("supernode-1 cosignatures_total{outcome=made} = %v, want 1\n%s", got, describe(l))
	}
	if got := value(snFams, "patchnet_fetched_bytes_total", map[string]string{"source": "vendor"}); got != float64(l.ArtifactSize()) {
		t.Errorf("supernode-1 fetched_bytes_total{source=vendor} = %v, want its own check's %d bytes", got, l.ArtifactSize())
	}
	// A supernode reports the supernodes' topic too (its mesh there may be
	// empty: the lab's supernodes need not be connected to each other).
	if got := series(snFams, "patchnet_mesh_peers", map[string]string{"topic": "supernodes"}); len(got) != 1 {
		t.Errorf("supernode-1 mesh_peers{topic=supernodes}: %d series, want 1", len(got))
	}
	if got := value(snFams, "patchnet_node_info", map[string]string{"roles": "supernode"}); got != 1 {
		t.Errorf("supernode-1 node_info{roles=supernode} = %v, want 1", got)
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func gt(than float64) func(float64) bool { return func(v float64) bool { return v > than } }

// [metrics] listen refuses addresses other hosts reach unless allow_remote
// is set, and each error names the key and its value.
func TestMetricsListenMustBeLoopback(t *testing.T) {
	for _, tc := range []struct {
		listen      string
		allowRemote bool
		wantErr     string // "" for valid
	}{
		{"", false, ""},
		{"127.0.0.1:9464", false, ""},
		{"127.0.0.1:0", false, ""},
		{"127.1.2.3:9464", false, ""},
		{"[::1]:9464", false, ""},
		{"localhost:9464", false, ""},
		{"0.0.0.0:9464", false, `metrics.listen "0.0.0.0:9464" is not a loopback address`},
		{":9464", false, `metrics.listen ":9464" is not a loopback address`},
		{"[::]:9464", false, `metrics.listen "[::]:9464" is not a loopback address`},
		{"192.0.2.7:9464", false, `metrics.listen "192.0.2.7:9464" is not a loopback address`},
		{"metrics.example:9464", false, `metrics.listen "metrics.example:9464" is not a loopback address`},
		{"0.0.0.0:9464", true, ""},
		{"192.0.2.7:9464", true, ""},
		{"127.0.0.1", false, `metrics.listen "127.0.0.1": want host:port`},
		{"127.0.0.1:99999", false, `metrics.listen "127.0.0.1:99999": port "99999"`},
		{"127.0.0.1:http", true, `metrics.listen "127.0.0.1:http": port "http"`},
	} {
		t.Run(fmt.Sprintf("%s,remote=%v", tc.listen, tc.allowRemote), func(t *testing.T) {
			cfg := validConfig(t)
			cfg.Metrics = node.MetricsConfig{Listen: tc.listen, AllowRemote: tc.allowRemote}
			err := cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want it valid", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// The [log] and [metrics] tables decode from TOML, and a bad log format or
// level is named with its value.
func TestLogAndMetricsConfig(t *testing.T) {
	cfg, err := node.DecodeConfig([]byte(`zone = "acme"
state = "/var/lib/patchnet"
roots = ["/etc/patchnet/root.crt"]

[log]
format = "json"
level = "debug"

[metrics]
listen = "0.0.0.0:9464"
allow_remote = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if want := (node.LogConfig{Format: "json", Level: "debug"}); cfg.Log != want {
		t.Errorf("[log] = %+v, want %+v", cfg.Log, want)
	}
	if want := (node.MetricsConfig{Listen: "0.0.0.0:9464", AllowRemote: true}); cfg.Metrics != want {
		t.Errorf("[metrics] = %+v, want %+v", cfg.Metrics, want)
	}
	def := node.DefaultConfig()
	if def.Log.Format != "text" || def.Log.Level != "info" || def.Metrics.Listen != "" {
		t.Errorf("defaults: [log] %+v, [metrics] %+v; want text, info and no endpoint", def.Log, def.Metrics)
	}
	for _, tc := range []struct {
		log  node.LogConfig
		want string
	}{
		{node.LogConfig{Format: "xml"}, `log.format "xml"`},
		{node.LogConfig{Level: "verbose"}, `log.level "verbose"`},
	} {
		cfg := validConfig(t)
		cfg.Log = tc.log
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() with [log] %+v = %v, want an error naming %s", tc.log, err, tc.want)
		}
	}
}

// validConfig is DefaultConfig with the required keys set.
func validConfig(t *testing.T) node.Config {
	cfg := node.DefaultConfig()
	cfg.State = t.TempDir()
	cfg.Roots = []string{"/etc/patchnet/root.crt"}
	cfg.Zone = "acme"
	return cfg
}

package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// validConfig is DefaultConfig with the required keys set.
func validConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.State = t.TempDir()
	cfg.Roots = []string{"/etc/patchnet/root.crt"}
	cfg.Zone = "acme"
	return cfg
}

func TestConfigRoundTrip(t *testing.T) {
	cfg := validConfig(t)
	cfg.Content.ProviderSearchTimeout = Duration(3 * time.Second)
	cfg.Overlay.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"}
	data, err := cfg.MarshalTOML()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeConfig(data)
	if err != nil {
		t.Fatalf("decoding what MarshalTOML wrote: %v\n%s", err, data)
	}
	if d := cmp.Diff(cfg, got, cmpopts.IgnoreFields(Config{}, "OnEvent"), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("round trip changed the config (-want +got):\n%s", d)
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("testdata", "agent.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.State, want.Roots, want.CRL, want.Zone = "/var/lib/patchnet", []string{"/etc/patchnet/root.crt"}, []string{"/etc/patchnet/zone.crl"}, "acme"
	want.Threshold, want.FetchTimeout = 3, Duration(90*time.Second)
	want.Overlay.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}
	want.Overlay.BootstrapPeers = []string{"/ip4/192.0.2.10/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"}
	// Durations of every layer read as Go duration text, as operators write them.
	want.Overlay.AuthDeadline = Duration(5 * time.Second)
	want.Overlay.Gossip.SeenMessagesTTL = Duration(30 * time.Minute)
	want.Content = ContentConfig{Provide: false, ProviderSearchTimeout: Duration(5 * time.Second), MaxProviders: 4}
	want.Respond.Default = "notify"
	want.Respond.MaintenanceWindows = []string{"Mon-Fri 22:00-23:30"}
	if d := cmp.Diff(want, cfg, cmpopts.IgnoreFields(Config{}, "OnEvent"), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("testdata/agent.toml (-want +got):\n%s", d)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigErrorsNameFieldAndValue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no state", func(c *Config) { c.State = "" }, "state"},
		{"no roots", func(c *Config) { c.Roots = nil }, "roots"},
		{"bad zone", func(c *Config) { c.Zone = "a zone" }, `zone "a zone"`},
		{"threshold 0", func(c *Config) { c.Threshold = 0 }, "threshold"},
		{"fetch timeout", func(c *Config) { c.FetchTimeout = -1 }, "fetch_timeout"},
		{"max providers", func(c *Config) { c.Content.MaxProviders = 99 }, "max_providers 99"},
		{"respond", func(c *Config) { c.Respond.Default = "explode" }, "explode"},
		{"overlay", func(c *Config) { c.Overlay.ListenAddrs = []string{"nonsense"} }, "nonsense"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig(t)
			tc.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if err := validConfig(t).Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestDecodeConfigRefusesUnknownKeys(t *testing.T) {
	_, err := DecodeConfig([]byte("zone = \"acme\"\nthreshhold = 2\n"))
	if err == nil || !strings.Contains(err.Error(), "threshhold") {
		t.Errorf("DecodeConfig with a typo = %v, want an error naming threshhold", err)
	}
}

// A config file's mistakes are reported with their line and column, and
// LoadConfig names the file.
func TestConfigErrorsNameLine(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"syntax error", "zone = \"acme\"\nthreshold = \n", "line 2 column 13: unexpected character"},
		{"wrong type", "zone = \"acme\"\n\n[content]\nmax_providers = \"four\"\n", "line 4 column 17: key content.max_providers: cannot decode"},
		{"bad duration", "fetch_timeout = \"ten minutes\"\n", "line 1 column 17: key fetch_timeout: "},
		{"unknown key", "zone = \"acme\"\n[overlay]\nlisten = []\n", "line 3 column 1: unknown key overlay.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeConfig([]byte(tt.data)); err == nil || !strings.HasPrefix(err.Error(), "config "+tt.want) {
				t.Errorf("DecodeConfig = %v, want an error starting %q", err, "config "+tt.want)
			}
			path := filepath.Join(t.TempDir(), "agent.toml")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadConfig(path); err == nil || !strings.HasPrefix(err.Error(), "config "+path+" "+tt.want) {
				t.Errorf("LoadConfig = %v, want an error starting %q", err, "config "+path+" "+tt.want)
			}
		})
	}
}

func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte("zone = \"acme\"\nthreshold = 2\n"))
	f.Add([]byte("[content]\nprovider_search_timeout = \"5s\"\n"))
	f.Add([]byte("fetch_timeout = \"-\"\n"))
	f.Add([]byte("[overlay]\nlisten_addrs = [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := DecodeConfig(data)
		if err != nil {
			return
		}
		_ = cfg.Validate() // must not panic whatever was decoded
	})
}

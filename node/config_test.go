package node

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/pelletier/go-toml/v2"

	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
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
	want.Content = ContentConfig{Provide: false, ProviderSearchTimeout: Duration(5 * time.Second), MaxProviders: 4,
		ReprovideInterval: Duration(12 * time.Hour), ProvideSpread: Duration(5 * time.Minute), StreamsPerProvider: 3, ServeStreamsPerPeer: 8, SeedServeCopies: 2}
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
		{"state db memtable", func(c *Config) { c.StateDBMemTable = 1 << 10 }, "StateDBMemTable 1024"},
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

// The [content] keys the README and overlay/content document are taken,
// default to content.DefaultConfig and reach the content service's config.
func TestConfigContentKeys(t *testing.T) {
	def := content.DefaultConfig()
	got, err := validConfig(t).contentConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got.Provide != def.Provide || got.ReprovideInterval != def.ReprovideInterval || got.ProviderSearchTimeout != def.ProviderSearchTimeout ||
		got.MaxProviders != def.MaxProviders || got.StreamsPerProvider != def.StreamsPerProvider || got.ServeStreamsPerPeer != def.ServeStreamsPerPeer ||
		got.SeedServeCopies != def.SeedServeCopies || got.ProvideSpread != def.ProvideSpread {
		t.Errorf("default content config %+v, want content.DefaultConfig %+v", got, def)
	}
	tests := []struct {
		name, toml string
		check      func(content.Config) bool
		invalid    string // Validate's error, "" if valid
	}{
		{"reprovide_interval", "reprovide_interval = \"12h\"", func(c content.Config) bool { return c.ReprovideInterval == 12*time.Hour }, ""},
		{"streams_per_provider", "streams_per_provider = 3", func(c content.Config) bool { return c.StreamsPerProvider == 3 }, ""},
		{"serve_streams_per_peer", "serve_streams_per_peer = 8", func(c content.Config) bool { return c.ServeStreamsPerPeer == 8 }, ""},
		{"seed_serve_copies", "seed_serve_copies = 0", func(c content.Config) bool { return c.SeedServeCopies == 0 }, ""},
		{"provide_spread", "provide_spread = \"0s\"", func(c content.Config) bool { return c.ProvideSpread == 0 }, ""},
		{"provide_spread too long", "provide_spread = \"23h\"", nil, "provide_spread 23h0m0s"},
		{"seed_serve_copies negative", "seed_serve_copies = -1", nil, "seed_serve_copies -1"},
		{"reprovide_interval too long", "reprovide_interval = \"48h\"", nil, "reprovide_interval 48h0m0s"},
		{"streams_per_provider 0", "streams_per_provider = 0", nil, "streams_per_provider 0"},
		{"serve_streams_per_peer too many", "serve_streams_per_peer = 65", nil, "serve_streams_per_peer 65"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := DecodeConfig([]byte("state = \"/var/lib/patchnet\"\nroots = [\"root.crt\"]\nzone = \"acme\"\n[content]\n" + tt.toml + "\n"))
			if err != nil {
				t.Fatalf("DecodeConfig: %v", err)
			}
			cc, err := cfg.contentConfig()
			if tt.invalid != "" {
				if verr := cfg.Validate(); verr == nil || !strings.Contains(verr.Error(), tt.invalid) {
					t.Errorf("Validate() = %v, want an error naming %q", verr, tt.invalid)
				}
				return
			}
			if err != nil || !tt.check(cc) {
				t.Errorf("content config %+v, %v", cc, err)
			}
		})
	}
}

// Every duration key of every table of the config file is Go duration text
// ("10s"), and no key is a bare time.Duration (which TOML would read as
// nanoseconds, or refuse).
func TestConfigDurationsAreText(t *testing.T) {
	var fields []durationField
	walkDurations(t, reflect.TypeFor[Config](), nil, nil, &fields)
	if len(fields) < 8 {
		t.Fatalf("found only %d duration keys: %v", len(fields), fields)
	}
	doc := map[string]any{"state": "/var/lib/patchnet", "roots": []string{"root.crt"}, "zone": "acme"}
	for _, f := range fields {
		m := doc
		for _, k := range f.key[:len(f.key)-1] {
			if m[k] == nil {
				m[k] = map[string]any{}
			}
			m = m[k].(map[string]any)
		}
		m[f.key[len(f.key)-1]] = "10s"
	}
	data, err := toml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := DecodeConfig(data)
	if err != nil {
		t.Fatalf("DecodeConfig: %v\n%s", err, data)
	}
	for _, f := range fields {
		v := reflect.ValueOf(cfg)
		for _, i := range f.index {
			if v.Kind() == reflect.Pointer {
				v = v.Elem()
			}
			v = v.Field(i)
		}
		if got := time.Duration(v.Interface().(Duration)); got != 10*time.Second {
			t.Errorf("%s = %v, want 10s", strings.Join(f.key, "."), got)
		}
	}
}

// durationField is one Duration key of the config file.
type durationField struct {
	key   []string // TOML key path
	index []int    // reflect field index path
}

// walkDurations collects the Duration fields of t's TOML keys, failing on a
// time.Duration one.
func walkDurations(t *testing.T, typ reflect.Type, key []string, index []int, out *[]durationField) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		k, ix := append(slices.Clone(key), name), append(slices.Clone(index), i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft == reflect.TypeFor[Duration]():
			*out = append(*out, durationField{key: k, index: ix})
		case ft == reflect.TypeFor[time.Duration]():
			t.Errorf("%s is a time.Duration: make it a Duration so it reads \"10s\"", strings.Join(k, "."))
		case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]():
			walkDurations(t, ft, k, ix, out)
		}
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

// A [notify.smtp] or [notify.webhook] table naming only its destination
// starts from its channel's defaults, so a minimal config validates; a key
// the file sets still wins over the default, and an absent table stays
// off.
func TestNotifyTablesDefault(t *testing.T) {
	base := "state = \"/var/lib/patchnet\"\nroots = [\"/etc/patchnet/root.crt\"]\nzone = \"acme\"\n"
	smtpDefault, hookDefault := updates.DefaultSMTPConfig(), updates.DefaultWebhookConfig()
	tests := []struct {
		name        string
		file        string
		wantSMTP    *updates.SMTPConfig
		wantWebhook *updates.WebhookConfig
	}{
		{"no tables", base, nil, nil},
		{"webhook url only", base + "[notify.webhook]\nurl = \"https://hooks.example.org/patchnet\"\n", nil,
			func() *updates.WebhookConfig {
				c := hookDefault
				c.URL = "https://hooks.example.org/patchnet"
				return &c
			}()},
		{"smtp destination only", base + "[notify.smtp]\naddr = \"mail.example.org:587\"\nto = [\"ops@example.org\"]\n",
			func() *updates.SMTPConfig {
				c := smtpDefault
				c.Addr, c.To = "mail.example.org:587", []string{"ops@example.org"}
				return &c
			}(), nil},
		{"explicit zero backoff kept", base + "[notify.webhook]\nurl = \"https://hooks.example.org/p\"\nbackoff = \"0s\"\nattempts = 5\n", nil,
			func() *updates.WebhookConfig {
				c := hookDefault
				c.URL, c.Backoff, c.Attempts = "https://hooks.example.org/p", 0, 5
				return &c
			}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.toml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("minimal config: %v", err)
			}
			if d := cmp.Diff(tt.wantSMTP, cfg.Notify.SMTP, cmpopts.IgnoreUnexported(updates.SMTPConfig{})); d != "" {
				t.Errorf("notify.smtp (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantWebhook, cfg.Notify.Webhook); d != "" {
				t.Errorf("notify.webhook (-want +got):\n%s", d)
			}
			decoded, err := DecodeConfig([]byte(tt.file))
			if err != nil || !cmp.Equal(decoded.Notify, cfg.Notify, cmpopts.IgnoreUnexported(updates.SMTPConfig{})) {
				t.Errorf("DecodeConfig = %+v, %v; want what LoadConfig read", decoded.Notify, err)
			}
		})
	}
}

// The [retention] keys default to install's, reach the installer's
// retention policy with STATE/incoming as its download directory, and
// keep_last 0 (which would delete the newest install's before-state) is
// refused.
func TestConfigRetentionKeys(t *testing.T) {
	tests := []struct {
		name, toml string
		want       install.Retention
		invalid    string
	}{
		{"defaults", "", install.Retention{KeepLast: install.DefaultKeepLast, MaxBytes: install.DefaultRetentionBytes}, ""},
		{"set", "keep_last = 5\nmax_bytes = 1048576", install.Retention{KeepLast: 5, MaxBytes: 1 << 20}, ""},
		{"no byte bound", "max_bytes = 0", install.Retention{KeepLast: install.DefaultKeepLast}, ""},
		{"keep_last 0", "keep_last = 0", install.Retention{}, "retention.keep_last 0"},
		{"negative bytes", "max_bytes = -1", install.Retention{}, "retention.max_bytes -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := DecodeConfig([]byte("state = \"/var/lib/patchnet\"\nroots = [\"root.crt\"]\nzone = \"acme\"\n[retention]\n" + tt.toml + "\n"))
			if err != nil {
				t.Fatalf("DecodeConfig: %v", err)
			}
			verr := cfg.Validate()
			if tt.invalid != "" {
				if verr == nil || !strings.Contains(verr.Error(), tt.invalid) {
					t.Errorf("Validate() = %v, want an error naming %q", verr, tt.invalid)
				}
				return
			}
			if verr != nil {
				t.Fatalf("Validate() = %v", verr)
			}
			tt.want.DownloadDirs = []string{"/var/lib/patchnet/incoming"}
			if diff := cmp.Diff(tt.want, cfg.Retention.Retention(cfg.State)); diff != "" {
				t.Errorf("retention (-want +got):\n%s", diff)
			}
		})
	}
}

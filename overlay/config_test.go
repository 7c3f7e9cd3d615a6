package overlay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/internal/duration"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := withZone(DefaultConfig(), "acme")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if !isQUIC(cfg.ListenAddrs[1]) || isQUIC(cfg.ListenAddrs[0]) {
		t.Errorf("default listen addresses %v, want TCP then QUIC", cfg.ListenAddrs)
	}
}

func TestConfigValidate(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "swarm.key")
	if err := os.WriteFile(keyFile, EncodePSK(make([]byte, 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	badKeyFile := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(badKeyFile, []byte("/key/swarm/psk/1.0.0/\n/base16/\nzz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tcpOnly := func(c *Config) { c.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/4001"} }
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"default", func(*Config) {}, ""},
		{"empty zone", func(c *Config) { c.Zone = "" }, "zone"},
		{"zone with slash", func(c *Config) { c.Zone = "a/b" }, `zone: zone name "a/b"`},
		{"no listen address", func(c *Config) { c.ListenAddrs = nil }, "listen_addrs: empty"},
		{"bad listen address", func(c *Config) { c.ListenAddrs = []string{"/ip4/999.0.0.1/tcp/1"} }, `"/ip4/999.0.0.1/tcp/1"`},
		{"bad announce address", func(c *Config) { c.AnnounceAddrs = []string{"nope"} }, `address "nope"`},
		{"bootstrap without peer ID", func(c *Config) { c.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/4001"} }, "bootstrap_peers"},
		{"bootstrap ok", func(c *Config) {
			c.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDxNBEcrtQf1YeJU7gEPYsRU418zzBvCthQXKSEW3wGWB"}
		}, ""},
		{"PSK with QUIC", func(c *Config) { c.PrivateZone.PSK = make([]byte, 32) }, "runs over TCP only"},
		{"PSK over TCP", func(c *Config) { tcpOnly(c); c.PrivateZone.PSK = make([]byte, 32) }, ""},
		{"short PSK", func(c *Config) { tcpOnly(c); c.PrivateZone.PSK = make([]byte, 16) }, "private_zone.psk: 16 bytes"},
		{"PSK file", func(c *Config) { tcpOnly(c); c.PrivateZone.PSKFile = keyFile }, ""},
		{"missing PSK file", func(c *Config) { tcpOnly(c); c.PrivateZone.PSKFile = "/nonexistent/swarm.key" }, "private_zone.psk_file"},
		{"bad PSK file", func(c *Config) { tcpOnly(c); c.PrivateZone.PSKFile = badKeyFile }, "decoding pnet key"},
		{"DHT mode", func(c *Config) { c.DHT.Mode = "auto" }, `dht.mode: "auto"`},
		{"DHT prefix", func(c *Config) { c.DHT.ProtocolPrefix = "patchnet" }, "dht.protocol_prefix"},
		{"collective name", func(c *Config) { c.Collectives = []string{"Web Servers"} }, `collective name "Web Servers"`},
		{"duplicate collective", func(c *Config) { c.Collectives = []string{"web", "web"} }, `"web" listed twice`},
		{"too many collectives", func(c *Config) { c.Collectives = make([]string, MaxCollectives+1) }, "collectives: 33 names"},
		{"message size", func(c *Config) { c.Gossip.MaxMessageBytes = 10 }, "gossip.max_message_bytes: 10"},
		{"validate queue", func(c *Config) { c.Gossip.ValidateQueueSize = 0 }, "gossip.validate_queue_size: 0"},
		{"validate workers", func(c *Config) { c.Gossip.ValidateWorkers = -1 }, "gossip.validate_workers: -1"},
		{"validate concurrency", func(c *Config) { c.Gossip.ValidateConcurrency = 0 }, "gossip.validate_concurrency: 0"},
		{"outbound queue", func(c *Config) { c.Gossip.PeerOutboundQueueSize = 0 }, "gossip.peer_outbound_queue_size: 0"},
		{"subscription buffer", func(c *Config) { c.Gossip.SubscriptionBuffer = MaxQueueSize + 1 }, "gossip.subscription_buffer"},
		{"seen TTL", func(c *Config) { c.Gossip.SeenMessagesTTL = 0 }, "gossip.seen_messages_ttl: 0s"},
		{"positive invalid weight", func(c *Config) { c.Score.InvalidMessageWeight = 1 }, "score.invalid_message_weight: 1"},
		{"threshold order", func(c *Config) { c.Score.GraylistThreshold = -1 }, "score.graylist_threshold: -1"},
		{"publish threshold", func(c *Config) { c.Score.PublishThreshold = -1 }, "score.publish_threshold: -1"},
		{"score inspect too often", func(c *Config) { c.Score.InspectInterval = duration.Duration(time.Millisecond) }, "score.inspect_interval: 1ms"},
		{"score inspect too rarely", func(c *Config) { c.Score.InspectInterval = duration.Duration(time.Hour) }, "score.inspect_interval: 1h"},
		{"gossip threshold", func(c *Config) { c.Score.GossipThreshold = 0 }, "score.gossip_threshold: 0"},
		{"auth deadline", func(c *Config) { c.AuthDeadline = 0 }, "auth_deadline: 0s"},
		{"long auth deadline", func(c *Config) { c.AuthDeadline = duration.Duration(time.Hour) }, "auth_deadline: 1h0m0s"},
		{"bootstrap interval", func(c *Config) { c.BootstrapInterval = duration.Duration(time.Millisecond) }, "bootstrap_interval: 1ms"},
		{"sync peers", func(c *Config) { c.Sync.Peers = 0 }, "sync.peers: 0"},
		{"sync items", func(c *Config) { c.Sync.MaxItems = MaxSyncItems + 1 }, "sync.max_items: 1025"},
		{"sync bytes", func(c *Config) { c.Sync.MaxBytes = 100 }, "sync.max_bytes: 100"},
		{"sync interval", func(c *Config) { c.Sync.Interval = duration.Duration(time.Millisecond) }, "sync.interval: 1ms"},
		{"memory", func(c *Config) { c.Resources.MaxMemory = 1 }, "resources.max_memory: 1"},
		{"fds", func(c *Config) { c.Resources.MaxFileDescriptors = 1 }, "resources.max_file_descriptors: 1"},
		{"conn marks", func(c *Config) { c.Resources.ConnLow, c.Resources.ConnHigh = 10, 5 }, "resources.conn_low/conn_high: 10/5"},
		{"fds below conns", func(c *Config) { c.Resources.ConnLow, c.Resources.ConnHigh = 256, 1024 },
			"resources.max_file_descriptors: 1024: below the 2560 connections resources.conn_high 1024 lets the node hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := withZone(DefaultConfig(), "acme")
			tt.change(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want valid", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate() = nil, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewRefusesMissingDeps(t *testing.T) {
	cfg := testConfig()
	if err := (&Deps{}).check(cfg); err == nil || !strings.Contains(err.Error(), "validator: nil") {
		t.Errorf("no validator: %v", err)
	}
	cfg.PrivateZone.PSK = make([]byte, 32)
	deps := Deps{Validator: ValidatorFunc(nil)}
	if err := deps.check(cfg); err == nil || !strings.Contains(err.Error(), "authenticator: nil") {
		t.Errorf("private zone without authenticator: %v", err)
	}
}

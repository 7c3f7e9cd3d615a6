package node

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/pelletier/go-toml/v2"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/internal/tomlconf"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
	"github.com/patchnet/patchnet/updates/origin"
)

// Config is one node's configuration file (TOML). The node's role is not a
// key: it comes from the roles its certificate carries.
type Config struct {
	// State is the directory for the node's badger database, the install
	// journal, kept before-states and fetched artifacts. Required.
	State string `toml:"state"`
	// InMemory keeps seen versions and catch-up items in memory instead of
	// State/node (tests, the demo, the testnet). The install journal is
	// always on disk. Default: false.
	InMemory bool `toml:"in_memory"`
	// StateDBMemTable is the memtable of the node's badger database in
	// State/node, in bytes; its value log files are StateDBValueLogFactor
	// times larger. Badger allocates the whole
	// memtable up front, so it is most of an idle node's memory: testnet/sim,
	// which runs thousands of nodes in one process, sets MinStateDBMemTable.
	// It sizes buffers only, never what is kept. Not a TOML key. Default:
	// StateDBMemTable (4 MiB).
	StateDBMemTable int64 `toml:"-"`
	// Key and Cert are the node's key and certificate chain (leaf, zone CA),
	// as `patchnet cert request` and `patchnet ca sign` write them.
	// Defaults: State/node.key and State/node.crt.
	Key  string `toml:"key"`
	Cert string `toml:"cert"`
	// Roots are the pinned root CA certificates (PEM files). Required.
	Roots []string `toml:"roots"`
	// CRL are CRL files (PEM or DER) loaded at start. Default: none.
	CRL []string `toml:"crl"`
	// Zone is the zone this node joins; it must be the zone its certificate
	// names. Required.
	Zone string `toml:"zone"`
	// Threshold is k, the distinct supernode co-signatures an agent requires.
	// Default: 2.
	Threshold int `toml:"threshold"`
	// Publishers is how many distinct publisher signatures are required.
	// Default: 1.
	Publishers int `toml:"publishers"`
	// RequireCRL counts a signature only while current CRLs of its signer's
	// zone CA and root are held (they come with the config's crl files, by
	// gossip and by catch-up at start): a fresh agent, or one an attacker
	// keeps from its CRLs, cannot tell a revoked supernode from a good one.
	// Default: true.
	RequireCRL bool `toml:"require_crl"`
	// Install tunes how an agent installs: pinned installer binaries and
	// archive prefixes.
	Install InstallConfig `toml:"install"`
	// Retention is how many kept before-states, replaced trees and
	// artifacts an agent keeps, and in how many bytes.
	Retention RetentionConfig `toml:"retention"`
	// Heartbeat is the zone's heartbeat policy: every node of a zone should
	// use the same.
	Heartbeat HeartbeatConfig `toml:"heartbeat"`
	// CoSign is what a supernode requires before it co-signs: per
	// publisher, the vendor origins its artifacts must come from and the
	// vendor keys that must sign them.
	CoSign CoSignConfig `toml:"cosign"`
	// Sysroot is the filesystem root an agent inventories and installs into.
	// Default: "/".
	Sysroot string `toml:"sysroot"`
	// Overlay is the libp2p side: listen addresses, bootstrap peers, DHT.
	// Its zone is taken from Zone.
	Overlay overlay.Config `toml:"overlay"`
	// Content tunes artifact transfer.
	Content ContentConfig `toml:"content"`
	// Respond decides, per category and zone, whether an agent installs,
	// notifies or only logs. Default: apply security fixes, notify bugfixes
	// and enhancements, log announcements.
	Respond updates.RespondConfig `toml:"respond"`
	// Notify are the channels (SMTP, webhook) that tell people about
	// announcements in notify mode, alerts, alarms and install outcomes
	// (alerts.go). A table present in the file starts from its channel's
	// defaults (updates.DefaultSMTPConfig, DefaultWebhookConfig), so
	// naming the destination is enough. Default: none.
	Notify updates.NotifyConfig `toml:"notify"`
	// FetchTimeout bounds fetching one artifact. Default: 10m.
	FetchTimeout Duration `toml:"fetch_timeout"`
	// FetchRetry is the wait before an agent fetches an accepted artifact
	// again after a failed fetch; it doubles per attempt, up to
	// MaxFetchRetryBackoff, for MaxFetchAttempts attempts. Default: 1m.
	FetchRetry Duration `toml:"fetch_retry"`
	// Log is how the daemon logs (format, level). Default: text, info.
	Log LogConfig `toml:"log"`
	// Metrics is the opt-in Prometheus endpoint. Default: off.
	Metrics MetricsConfig `toml:"metrics"`
	// Report is the opt-in install report an agent sends its supernodes
	// (report.go). Default: off.
	Report ReportConfig `toml:"report"`

	// OnEvent, when set, is called with every event as it happens (the demo
	// counts them). It must return quickly. Not a TOML key.
	OnEvent func(Event) `toml:"-"`
	// Installer, when set, opens an agent's installer for its state
	// directory and sysroot instead of the install journal (the lab's and
	// the testnet's RecordingInstaller, where no package manager runs);
	// [install] tool pins are then not required, as no binary runs. Nil
	// opens the real install.Manager. Not a TOML key.
	Installer func(stateDir, sysroot string) (Installer, error) `toml:"-"`
	// Logger, when set, receives the node's and its overlay's logs (the
	// daemon builds it from Log with NewLogger). Nil logs nothing (tests,
	// the demo). Not a TOML key.
	Logger *slog.Logger `toml:"-"`
	// HostOptions are extra libp2p options for the overlay's host
	// (overlay.Deps.HostOptions): testnet/sim's simulated network.
	// Production never sets them. Not a TOML key.
	HostOptions []libp2p.Option `toml:"-"`
}

// InstallConfig is the [install] table.
type InstallConfig struct {
	// ToolPins maps each installer binary (dpkg, rpm, apk, sh, …) by
	// absolute path to its SHA-256 (hex), checked before every run.
	// `patchnet apply --pin-tools` prints this host's. Default: none.
	ToolPins map[string]string `toml:"tool_pins"`
	// RequireToolPins refuses to run an installer binary without a pin, and
	// an agent without any pin refuses to start. Default: true.
	RequireToolPins bool `toml:"require_tool_pins"`
	// Prefixes maps a package name to the directory its archive updates
	// unpack into (the archive method has no other target). Default: none.
	Prefixes map[string]string `toml:"prefixes"`
}

// installConfig is the install.Config of c for state.
func (c InstallConfig) installConfig(state string) install.Config {
	ic := install.DefaultConfig(state)
	ic.ToolPins = c.ToolPins
	ic.RequireToolPins = c.RequireToolPins
	return ic
}

// validate names the first bad key.
func (c InstallConfig) validate() error {
	for name, dir := range c.Prefixes {
		if !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
			return fmt.Errorf("install.prefixes: %q = %q must be an absolute directory other than /", name, dir)
		}
	}
	if err := c.installConfig("/nonexistent").Validate(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}

// RetentionConfig is the [retention] table: what the install journal's
// kept files are pruned to, after every install and at start-up (see
// install.Retention). Each deletion is journalled.
type RetentionConfig struct {
	// KeepLast is how many committed installs per package or archive
	// prefix keep their before-states (1..install.MaxKeepLast). Default: 3.
	KeepLast int `toml:"keep_last"`
	// MaxBytes bounds what kept files take in all, in bytes; 0 means no
	// bound. The newest install's before-state stays regardless. Default:
	// 2 GiB.
	MaxBytes int64 `toml:"max_bytes"`
}

// Retention is the install.Retention of c; downloads waiting in
// STATE/incoming are pruned once their artifacts are installed.
func (c RetentionConfig) Retention(state string) install.Retention {
	return install.Retention{KeepLast: c.KeepLast, MaxBytes: c.MaxBytes,
		DownloadDirs: []string{filepath.Join(state, "incoming")}}
}

// HeartbeatConfig is the [heartbeat] table.
type HeartbeatConfig struct {
	// Interval is how often a supernode sends its signed heartbeat and an
	// agent checks the ones it received. Default: 1m.
	Interval Duration `toml:"interval"`
	// MaxAge is how old the k-th freshest supernode heartbeat may be before
	// an agent says it is cut off (and catches up from several peers).
	// Default: 3m.
	MaxAge Duration `toml:"max_age"`
}

// validate names the first bad key.
func (c HeartbeatConfig) validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("heartbeat.interval %v must be positive", time.Duration(c.Interval))
	case c.MaxAge < c.Interval:
		return fmt.Errorf("heartbeat.max_age %v must be at least heartbeat.interval %v", time.Duration(c.MaxAge), time.Duration(c.Interval))
	}
	return nil
}

// CoSignConfig is the [cosign] table.
type CoSignConfig struct {
	// Publishers maps a publisher of the zone, by peer ID (its
	// certificate's CN), or "*" for any publisher without an entry of its
	// own, to the vendor origins (URL prefixes) its artifacts must be
	// fetched from and the vendor OpenPGP keys (files) that must sign them
	// (a detached .asc/.sig beside the URL, or the rpm's own signature).
	// A supernode fetches each artifact from those origins itself, never
	// from peers or the publisher, and co-signs nothing of a publisher
	// without an entry: so a stolen publisher key alone gets no
	// co-signature for bytes the vendor did not publish. Default: none.
	Publishers map[string]origin.Policy `toml:"publishers"`
}

// validate names the first bad entry.
func (c CoSignConfig) validate() error {
	for pub, p := range c.Publishers {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("cosign.publishers.%q: %w", pub, err)
		}
	}
	return nil
}

// ContentConfig is the [content] table.
type ContentConfig struct {
	// Provide makes this node announce artifacts it fetched in the DHT and
	// serve them, so origin egress stays flat as the zone grows. Set false
	// to opt out. Default: true.
	Provide bool `toml:"provide"`
	// ProviderSearchTimeout bounds the DHT search before vendor URLs are
	// tried. Default: 10s.
	ProviderSearchTimeout Duration `toml:"provider_search_timeout"`
	// MaxProviders is how many peers one fetch pulls from at once.
	// Default: 4.
	MaxProviders int `toml:"max_providers"`
	// ReprovideInterval is how often held artifacts are provided in the DHT
	// again; it must stay below the DHT's 48h record validity. Default: 22h.
	ReprovideInterval Duration `toml:"reprovide_interval"`
	// ProvideSpread: an artifact the supernodes served this node without
	// help (no DHT search was needed) is first provided at a random point
	// within it, so a zone's agents finishing together do not all walk
	// the DHT at once; 0: at once. At that point it asks the DHT first
	// and, if 20 holders are named already, waits for a point within
	// reprovide_interval instead. A fetch that needed the DHT provides at
	// once (unless its search named 20 holders). Default: 10m.
	ProvideSpread Duration `toml:"provide_spread"`
	// StreamsPerProvider is how many requests a fetch keeps in flight to
	// each provider. Default: 2.
	StreamsPerProvider int `toml:"streams_per_provider"`
	// ServeStreamsPerPeer bounds one peer's concurrent requests to this
	// node. Default: 4.
	ServeStreamsPerPeer int `toml:"serve_streams_per_peer"`
	// SeedServeCopies is how many whole copies of an artifact a publisher
	// seeded it serves before answering "busy, ask others", so the vendor's
	// side serves about one copy and peers the rest; 0 lifts the budget.
	// Supernodes and agents serve without a budget. Default: 1.
	SeedServeCopies int `toml:"seed_serve_copies"`
}

// Duration is a time.Duration written as Go duration text ("90s") in TOML.
type Duration = duration.Duration

// DefaultConfig is an agent's configuration with every default filled in;
// the caller sets State, Roots and Zone.
func DefaultConfig() Config {
	p := updates.DefaultPolicy(trust.Zone{})
	cc := content.DefaultConfig()
	return Config{
		Threshold:  p.Threshold, // two supernodes: one compromised cannot push an update
		Publishers: p.Publishers,
		RequireCRL: true,                                 // no revocation status, no trust
		Install:    InstallConfig{RequireToolPins: true}, // no unpinned dpkg from PATH
		Retention: RetentionConfig{
			KeepLast: install.DefaultKeepLast,       // the last three upgrades undo offline
			MaxBytes: install.DefaultRetentionBytes, // 2 GiB of kept files
		},
		Heartbeat: HeartbeatConfig{
			Interval: Duration(DefaultHeartbeatInterval), // noticed within minutes, not apt's hours
			MaxAge:   Duration(DefaultHeartbeatMaxAge),   // three missed beats
		},
		Sysroot:         "/",
		StateDBMemTable: StateDBMemTable, // seen versions and catch-up items of a few KiB each
		Overlay:         overlay.DefaultConfig(),
		Content: ContentConfig{
			Provide:               true,                                   // serve what we fetched
			ProviderSearchTimeout: Duration(DefaultProviderSearchTimeout), // then the vendor URL
			MaxProviders:          cc.MaxProviders,
			ReprovideInterval:     Duration(cc.ReprovideInterval), // kad-dht's own default, under the 48h record life
			ProvideSpread:         Duration(cc.ProvideSpread),     // the supernodes already serve it
			StreamsPerProvider:    cc.StreamsPerProvider,          // overlap request turnarounds
			ServeStreamsPerPeer:   cc.ServeStreamsPerPeer,         // at least an honest peer's StreamsPerProvider
			SeedServeCopies:       cc.SeedServeCopies,             // origin egress about one copy; peers serve the rest
		},
		Respond:      updates.DefaultRespondConfig(),
		FetchTimeout: Duration(DefaultFetchTimeout),
		FetchRetry:   Duration(DefaultFetchRetry), // vendor or peers back soon, or the next window
		Log:          LogConfig{Format: LogFormatText, Level: "info"},
		// No install reports unless the operator opts in: without them an
		// agent discloses nothing beyond taking part in gossip.
		Report: ReportConfig{Enabled: false},
	}
}

// LoadConfig reads a TOML file over DefaultConfig; unknown keys are errors,
// so a typo is not silently ignored, and an error names the file, line and
// column.
func LoadConfig(path string) (Config, error) {
	data, err := tomlconf.Read(path, MaxConfigBytes)
	if err != nil {
		return DefaultConfig(), err
	}
	return decodeConfig(path, data)
}

// DecodeConfig decodes TOML over DefaultConfig; unknown keys are errors,
// reported with their line and column. It does not validate: call Validate.
func DecodeConfig(data []byte) (Config, error) { return decodeConfig("", data) }

// decodeConfig decodes data, the file name, over DefaultConfig. The
// [notify.smtp] and [notify.webhook] tables are pointers, nil unless the
// file has them, so a first pass finds which it has; a second decodes the
// file over those tables' own defaults, so a table naming only its
// destination works (otherwise attempts, timeout and security would be
// zero, and rejected).
func decodeConfig(name string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	if err := tomlconf.Decode(name, data, &cfg); err != nil {
		return DefaultConfig(), err
	}
	if cfg.Notify.SMTP == nil && cfg.Notify.Webhook == nil {
		return cfg, nil
	}
	present := cfg.Notify
	cfg = DefaultConfig()
	if present.SMTP != nil {
		sc := updates.DefaultSMTPConfig()
		cfg.Notify.SMTP = &sc
	}
	if present.Webhook != nil {
		wc := updates.DefaultWebhookConfig()
		cfg.Notify.Webhook = &wc
	}
	if err := tomlconf.Decode(name, data, &cfg); err != nil {
		return DefaultConfig(), err
	}
	return cfg, nil
}

// MarshalTOML encodes c as a config file.
func (c Config) MarshalTOML() ([]byte, error) { return toml.Marshal(c) }

// withDefaults fills the paths derived from State, and the state
// database's memtable of a Config not made by DefaultConfig.
func (c Config) withDefaults() Config {
	if c.Key == "" && c.State != "" {
		c.Key = c.State + "/node.key"
	}
	if c.Cert == "" && c.State != "" {
		c.Cert = c.State + "/node.crt"
	}
	if c.StateDBMemTable == 0 {
		c.StateDBMemTable = StateDBMemTable
	}
	c.Overlay.Zone = c.Zone
	return c
}

// Validate names the first bad field and its value.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.State == "":
		return errors.New("config: state is required (the node's state directory)")
	case len(c.Roots) == 0:
		return errors.New("config: roots is required (pinned root CA certificates)")
	case c.Sysroot == "":
		return errors.New("config: sysroot \"\" must name a directory (\"/\" is this host)")
	case c.FetchTimeout <= 0 || time.Duration(c.FetchTimeout) > MaxFetchTimeout:
		return fmt.Errorf("config: fetch_timeout %v must be in (0, %v]", time.Duration(c.FetchTimeout), MaxFetchTimeout)
	case c.FetchRetry <= 0 || time.Duration(c.FetchRetry) > MaxFetchRetryBackoff:
		return fmt.Errorf("config: fetch_retry %v must be in (0, %v]", time.Duration(c.FetchRetry), MaxFetchRetryBackoff)
	case c.StateDBMemTable < MinStateDBMemTable || c.StateDBMemTable > MaxStateDBMemTable:
		return fmt.Errorf("config: StateDBMemTable %d must be in [%d, %d]", c.StateDBMemTable, MinStateDBMemTable, MaxStateDBMemTable)
	}
	if err := trust.ValidateZoneName(c.Zone); err != nil {
		return fmt.Errorf("config: zone %q: %w", c.Zone, err)
	}
	// The root is known once the certificate is verified; any will do here.
	policy := c.policy(trust.Zone{Name: c.Zone, Root: trust.Fingerprint{1}})
	if err := policy.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Overlay.Validate(); err != nil {
		return fmt.Errorf("config: overlay: %w", err)
	}
	if _, err := c.contentConfig(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Install.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Retention.Retention("/nonexistent").Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Heartbeat.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.CoSign.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Respond.Validate(); err != nil {
		return fmt.Errorf("config: respond: %w", err)
	}
	if _, err := c.Notify.Notifier(); err != nil {
		return fmt.Errorf("config: notify: %w", err)
	}
	if err := c.Log.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Metrics.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// contentConfig is the content.Config of c.
func (c Config) contentConfig() (content.Config, error) {
	cc := content.DefaultConfig()
	cc.Provide = c.Content.Provide
	cc.ProviderSearchTimeout = time.Duration(c.Content.ProviderSearchTimeout)
	cc.MaxProviders = c.Content.MaxProviders
	cc.ReprovideInterval = time.Duration(c.Content.ReprovideInterval)
	cc.ProvideSpread = time.Duration(c.Content.ProvideSpread)
	cc.StreamsPerProvider = c.Content.StreamsPerProvider
	cc.ServeStreamsPerPeer = c.Content.ServeStreamsPerPeer
	cc.SeedServeCopies = c.Content.SeedServeCopies
	return cc, cc.Validate()
}

// policy is the acceptance policy of c in zone (c.Zone bound to its root).
func (c Config) policy(zone trust.Zone) updates.Policy {
	return updates.Policy{Zone: zone, Threshold: c.Threshold, Publishers: c.Publishers, RequireCRL: c.RequireCRL}
}

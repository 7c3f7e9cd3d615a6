package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// Log formats and levels of the [log] table.
const (
	LogFormatText = "text" // key=value lines (slog.TextHandler)
	LogFormatJSON = "json" // one JSON object a line (slog.JSONHandler)
)

// logLevels are the levels [log] level accepts.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// LogConfig is the [log] table: how a daemon (`patchnet agent`,
// `patchnet supernode`) logs to stderr. A node built by New logs through
// Config.Logger, which the daemon builds from this table with NewLogger.
type LogConfig struct {
	// Format is "text" (key=value lines) or "json" (one object a line).
	// Default: "text".
	Format string `toml:"format"`
	// Level is the lowest level logged: "debug" (also peer connections and
	// admissions), "info" (start-up, bootstrap, catch-up, every event),
	// "warn" or "error". Default: "info".
	Level string `toml:"level"`
}

// validate names a bad key and its value. Empty values are the defaults.
func (c LogConfig) validate() error {
	switch c.Format {
	case "", LogFormatText, LogFormatJSON:
	default:
		return fmt.Errorf("log.format %q: want %q or %q", c.Format, LogFormatText, LogFormatJSON)
	}
	if _, ok := logLevels[strings.ToLower(c.Level)]; !ok && c.Level != "" {
		return fmt.Errorf("log.level %q: want debug, info, warn or error", c.Level)
	}
	return nil
}

// NewLogger builds the logger [log] describes, writing to w (a daemon's
// stderr).
func NewLogger(w io.Writer, c LogConfig) (*slog.Logger, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("building logger: %w", err)
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if c.Level != "" {
		opts.Level = logLevels[strings.ToLower(c.Level)]
	}
	if c.Format == LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// logStart logs what an operator checks first: the node's roles, zone,
// peer ID and listen addresses, and its metrics endpoint.
func (n *Node) logStart() {
	attrs := []any{"roles", n.RoleText(), "zone", n.cfg.Zone, "peer", n.ID().String(),
		"listen", multiaddrStrings(n.ov.Addrs()), "threshold", n.cfg.Threshold}
	if addr := n.MetricsAddr(); addr != "" {
		attrs = append(attrs, "metrics", "http://"+addr+"/metrics")
	}
	if len(n.cfg.Overlay.BootstrapPeers) == 0 {
		attrs = append(attrs, "bootstrap", "none: waiting for peers to dial this node")
	}
	n.log.Info("node running", attrs...)
}

// logEvent logs one event: the single place every verdict, co-signature,
// fetch and install outcome reaches the log. Outcomes an operator must act
// on (a quarantine, a failed or refused install, a failed notification)
// are warnings; the rest is info.
func (n *Node) logEvent(e Event) {
	level := slog.LevelInfo
	switch e.Kind {
	case EventQuarantined, EventConflictingCoSignature, EventFailed, EventRefusedInstall, EventNotifyFailed, EventBootstrapFailed, EventInstallAlert:
		level = slog.LevelWarn
	}
	if !n.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{slog.String("kind", string(e.Kind))}
	if e.ID != "" {
		attrs = append(attrs, slog.String("id", e.ID), slog.Uint64("version", e.Version))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if e.State != "" {
		attrs = append(attrs, slog.String("state", string(e.State)))
	}
	if e.Source != "" {
		attrs = append(attrs, slog.String("source", e.Source))
	}
	if len(e.Signers) > 0 {
		attrs = append(attrs, slog.String("signers", strings.Join(e.Signers, ",")))
	}
	if e.Took > 0 {
		attrs = append(attrs, slog.Duration("took", e.Took))
	}
	attrs = append(attrs, slog.String("detail", e.Detail))
	n.log.LogAttrs(context.Background(), level, "event", attrs...)
}

// logConnections logs, at debug, each peer's first connection and its
// last disconnection.
func (n *Node) logConnections() {
	n.ov.Host().Network().Notify(&network.NotifyBundle{
		ConnectedF: func(net network.Network, c network.Conn) {
			if len(net.ConnsToPeer(c.RemotePeer())) == 1 {
				n.log.Debug("peer connected", "peer", c.RemotePeer().String(), "addr", c.RemoteMultiaddr().String(),
					"direction", c.Stat().Direction.String(), "peers", len(net.Peers()))
			}
		},
		DisconnectedF: func(net network.Network, c network.Conn) {
			if net.Connectedness(c.RemotePeer()) != network.Connected {
				n.log.Debug("peer disconnected", "peer", c.RemotePeer().String(), "peers", len(net.Peers()))
			}
		},
	})
}

func multiaddrStrings(addrs []ma.Multiaddr) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

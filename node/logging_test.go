package node_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
)

// logBuffer collects a JSON handler's lines, safe for the node's
// goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records parses every complete line logged so far.
func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	data := bytes.Clone(l.b.Bytes())
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// find returns the first record with level and msg whose attributes
// include want.
func (l *logBuffer) find(t *testing.T, level, msg string, want map[string]string) (map[string]any, bool) {
	t.Helper()
	for _, r := range l.records(t) {
		if r["level"] != level || r["msg"] != msg {
			continue
		}
		match := true
		for k, v := range want {
			s, _ := r[k].(string)
			match = match && s == v
		}
		if match {
			return r, true
		}
	}
	return nil, false
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// randomPeerID is a valid peer ID that no node has.
func randomPeerID(t *testing.T) string {
	t.Helper()
	key, err := trust.GenerateKey(trust.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	id, err := trust.PeerIDFromPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// withPeerID replaces the /p2p/ID of a bootstrap address with id: the
// right address, the wrong peer.
func withPeerID(t *testing.T, addr, id string) string {
	t.Helper()
	a, err := ma.NewMultiaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	transport, _ := ma.SplitLast(a) // drop /p2p/ID
	return transport.String() + "/p2p/" + id
}

// An agent whose bootstrap list names a peer that is not there, and one
// whose address answers with another peer ID, logs a warning naming each
// within seconds; its start-up line names its role, zone, peer ID and
// listen addresses; peer connections and catch-up are logged.
func TestLogsNameFailingBootstrapPeers(t *testing.T) {
	logs := &logBuffer{}
	logger, err := node.NewLogger(logs, node.LogConfig{Format: node.LogFormatJSON, Level: "debug"})
	if err != nil {
		t.Fatal(err)
	}
	dead := "/ip4/127.0.0.1/tcp/1/p2p/" + randomPeerID(t)
	var wrongID string
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			if name != "agent-01" {
				return
			}
			cfg.Logger = logger
			// The publisher's real address, with a peer ID it does not have.
			wrongID = withPeerID(t, cfg.Overlay.BootstrapPeers[0], randomPeerID(t))
			cfg.Overlay.BootstrapPeers = append(cfg.Overlay.BootstrapPeers, dead, wrongID)
		}})
	agent := l.Agents[0]
	for _, tc := range []struct{ name, addr string }{
		{"nothing listening", dead},
		{"wrong peer ID", wrongID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.addr[strings.LastIndex(tc.addr, "/")+1:]
			var rec map[string]any
			waitFor(t, 5*time.Second, "a warning naming "+id, func() bool {
				var ok bool
				rec, ok = logs.find(t, "WARN", "cannot reach bootstrap peer", map[string]string{"peer": id, "addr": tc.addr})
				return ok
			})
			if e, _ := rec["err"].(string); e == "" {
				t.Errorf("the warning gives no error: %v", rec)
			}
		})
	}
	start, ok := logs.find(t, "INFO", "node running", map[string]string{"peer": agent.ID().String(), "roles": "agent", "zone": l.Zone})
	if !ok {
		t.Fatalf("no start-up line naming the agent:\n%s", logs)
	}
	if listen, _ := start["listen"].([]any); len(listen) == 0 || !strings.Contains(listen[0].(string), "/ip4/127.0.0.1/tcp/") {
		t.Errorf("start-up line lists listen addresses %v", start["listen"])
	}
	// Connect returns (and the line is logged) once the connection is up
	// and identified, which may be after the failures above were logged.
	waitFor(t, 10*time.Second, "a line for the bootstrap peer that answered", func() bool {
		_, ok := logs.find(t, "INFO", "connected to bootstrap peer", map[string]string{"peer": l.Publisher.ID().String()})
		return ok
	})
	if _, ok := logs.find(t, "DEBUG", "peer connected", nil); !ok {
		t.Errorf("no debug line for a peer connection:\n%s", logs)
	}
	// Catch-up from the first peers admitted is logged with its counts.
	waitFor(t, 10*time.Second, "a catch-up line", func() bool {
		r, ok := logs.find(t, "INFO", "caught up", nil)
		return ok && r["peer"] != nil && r["accepted"] != nil && r["known"] != nil && r["dropped"] != nil
	})
}

// NewLogger writes text or JSON at the configured level and refuses
// unknown formats and levels.
func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      node.LogConfig
		wantInfo string // what the info line contains; "" when filtered
		wantErr  string
	}{
		{"defaults", node.LogConfig{}, "level=INFO msg=hello peer=p1", ""},
		{"text", node.LogConfig{Format: "text", Level: "info"}, "level=INFO msg=hello peer=p1", ""},
		{"json", node.LogConfig{Format: "json", Level: "debug"}, `"level":"INFO","msg":"hello","peer":"p1"`, ""},
		{"warn hides info", node.LogConfig{Level: "warn"}, "", ""},
		{"level in capitals", node.LogConfig{Level: "ERROR"}, "", ""},
		{"unknown format", node.LogConfig{Format: "logfmt"}, "", `log.format "logfmt"`},
		{"unknown level", node.LogConfig{Level: "trace"}, "", `log.level "trace"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			log, err := node.NewLogger(&b, tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewLogger(%+v) = %v, want an error naming %s", tc.cfg, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello", "peer", "p1")
			switch got := b.String(); {
			case tc.wantInfo == "" && got != "":
				t.Errorf("logged %q, want nothing at this level", got)
			case !strings.Contains(got, tc.wantInfo):
				t.Errorf("logged %q, want %q", got, tc.wantInfo)
			}
		})
	}
}

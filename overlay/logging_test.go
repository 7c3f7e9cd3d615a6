package overlay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// logCapture is a JSON slog handler's output, safe for the overlay's
// goroutines.
type logCapture struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.Write(p)
}

func (c *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// matching returns the records with level and msg logged about peer.
func (c *logCapture) matching(t testing.TB, level, msg, peer string) []map[string]any {
	t.Helper()
	c.mu.Lock()
	data := bytes.Clone(c.b.Bytes())
	c.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if r["level"] == level && r["msg"] == msg && r["peer"] == peer {
			out = append(out, r)
		}
	}
	return out
}

// startLogged starts an overlay for member that logs into c.
func startLogged(t testing.TB, pki *trusttest.PKI, cfg Config, member *trusttest.Member, c *logCapture) *Overlay {
	t.Helper()
	v := pki.Verifier(t)
	ov, err := New(context.Background(), member.Key, cfg, Deps{Validator: trustValidator(v),
		Authenticator: AuthenticatorFunc(v.VerifyPeer), Chain: member.ChainDER(), Logger: c.logger()})
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	t.Cleanup(func() { ov.Close() })
	return ov
}

// A private zone that drops a peer logs a warning naming the peer and the
// reason; a public zone keeps an unverified peer and says so at info.
func TestAdmissionRefusalsAreLogged(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone, "other")
	psk := newPSK(t)
	for _, tc := range []struct {
		name      string
		cfg       Config
		outsider  *trusttest.Member
		level     string
		msg       string
		wantInErr string
	}{
		{"private zone drops another zone's peer", privateConfig(psk), pki.Issue(t, "other"),
			"WARN", "dropping peer from private zone", trust.ErrWrongZone.Error()},
		{"public zone keeps an unknown root's peer unverified", testConfig(), trusttest.NewPKI(t, testZone).Issue(t, testZone),
			"INFO", "peer unverified", trust.ErrUnknownRoot.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logCapture
			a := startLogged(t, pki, tc.cfg, pki.Issue(t, testZone), &logs)
			out := startNode(t, pki, nodeOpts{cfg: tc.cfg, member: tc.outsider})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = out.Connect(ctx, a.AddrInfo())
			var recs []map[string]any
			waitFor(t, 10*time.Second, "a's log line about the outsider", func() bool {
				recs = logs.matching(t, tc.level, tc.msg, out.ID().String())
				return len(recs) > 0
			})
			if e, _ := recs[0]["err"].(string); !strings.Contains(e, tc.wantInErr) {
				t.Errorf("logged reason %q, want it to contain %q", e, tc.wantInErr)
			}
		})
	}
}

// A bootstrap peer that cannot be reached is a warning at its first
// failure; the redials every BootstrapInterval after are debug lines, so
// the warning is not repeated every interval.
func TestDeadBootstrapPeerWarnsOnce(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	dead := pki.Issue(t, testZone)
	addr := "/ip4/127.0.0.1/tcp/1/p2p/" + dead.PeerID().String()
	cfg := testConfig()
	cfg.BootstrapPeers = []string{addr}
	var logs logCapture
	startLogged(t, pki, cfg, pki.Issue(t, testZone), &logs)
	id := dead.PeerID().String()
	waitFor(t, 10*time.Second, "a redial of the dead peer at debug", func() bool {
		return len(logs.matching(t, "DEBUG", "cannot reach bootstrap peer", id)) > 0
	})
	warns := logs.matching(t, "WARN", "cannot reach bootstrap peer", id)
	if len(warns) != 1 {
		t.Fatalf("%d warnings for the dead bootstrap peer, want 1", len(warns))
	}
	if warns[0]["addr"] != addr || warns[0]["attempts"] != float64(1) || warns[0]["err"] == "" {
		t.Errorf("warning %v: want the address %s, attempt 1 and the error", warns[0], addr)
	}
}

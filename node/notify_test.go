package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/updates"
)

// webhook records the JSON bodies POSTed to it.
type webhook struct {
	mu     sync.Mutex
	bodies []updates.WebhookPayload
	srv    *httptest.Server
}

func newWebhook(t testing.TB) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p updates.WebhookPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("webhook body is not a payload: %v\n%s", err, b)
		}
		w.mu.Lock()
		w.bodies = append(w.bodies, p)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) received() []updates.WebhookPayload {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]updates.WebhookPayload(nil), w.bodies...)
}

// An agent whose respond policy says "notify" for security fixes tells
// people through its webhook and installs nothing; the others install.
func TestNotifyModeSendsWebhookInstallsNothing(t *testing.T) {
	hook := newWebhook(t)
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			if name == "agent-01" {
				cfg.Respond.Categories[updates.CategorySecurity] = updates.ModeNotify
				wc := updates.DefaultWebhookConfig()
				wc.URL = hook.srv.URL
				cfg.Notify.Webhook = &wc
			}
		}})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0011", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	notifier, installer := l.Agents[0], l.Agents[1]
	waitFor(t, 60*time.Second, "agent-01 to notify and agent-02 to install", func() bool {
		return notifier.Status().Has(node.EventNotified) && installer.Status().Has(node.EventInstalled)
	})
	got := hook.received()
	if len(got) != 1 || got[0].Announcement == nil || got[0].Announcement.ID != fix.ID || got[0].Decision == nil ||
		got[0].Decision.Mode != updates.ModeNotify {
		t.Fatalf("webhook received %+v, want one notify-mode notification of %s", got, fix.ID)
	}
	if v := installedVersion(t, notifier); v != nodelab.OldVersion || notifier.Status().Has(node.EventInstalled) {
		t.Errorf("agent-01 in notify mode installed (%q)", v)
	}
	if e, _ := notifier.Status().Last(node.EventNotApplied); !strings.Contains(e.Detail, "respond mode notify") {
		t.Errorf("agent-01 says %q, want the respond mode", e.Detail)
	}
}

package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchnet/patchnet/internal/freeport"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/notifytest"
)

// channels are a real SMTP server and a real webhook receiver on
// 127.0.0.1, and the [notify] tables of a minimal config pointing at them.
type channels struct {
	box  *notifytest.Mailbox
	hook *notifytest.Webhook
	cfg  updates.NotifyConfig
}

func startChannels(t *testing.T) *channels {
	t.Helper()
	c := &channels{box: notifytest.StartSMTP(t, "", "", nil), hook: notifytest.StartWebhook(t)}
	// Only the destinations: every other key is its channel's default.
	cfg, err := node.DecodeConfig(fmt.Appendf(nil, "[notify.webhook]\nurl = %q\n[notify.smtp]\naddr = %q\nto = [\"ops@example.org\"]\nsecurity = \"none\"\n",
		c.hook.URL, c.box.Addr))
	if err != nil {
		t.Fatal(err)
	}
	c.cfg = cfg.Notify
	return c
}

// told is one notification as both channels saw it: the webhook's
// payload and the mail's subject.
type told struct {
	webhook []updates.WebhookPayload
	mail    []string
}

func (c *channels) received(t *testing.T) told {
	t.Helper()
	var out told
	for _, b := range c.hook.Bodies() {
		var p updates.WebhookPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("webhook body: %v\n%s", err, b)
		}
		out.webhook = append(out.webhook, p)
	}
	for _, m := range c.box.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Fatalf("mail: %v\n%s", err, m.Data)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		out.mail = append(out.mail, subject)
	}
	return out
}

// notices lists the webhook's notices as "severity kind", in order.
func (r told) notices() []string {
	var out []string
	for _, p := range r.webhook {
		if p.Notice != nil {
			out = append(out, p.Notice.Severity+" "+p.Notice.Kind)
		}
	}
	return out
}

// count is how many webhook notices and mails mention what.
func (r told) count(severity, kind string) (hooks, mails int) {
	for _, p := range r.webhook {
		if p.Notice != nil && p.Notice.Severity == severity && p.Notice.Kind == kind {
			hooks++
		}
	}
	word := map[string]string{updates.NoticeAlarm: "ALARM", updates.NoticeRecovered: "RECOVERED"}[severity]
	for _, s := range r.mail {
		if strings.Contains(s, word+" "+kind+" ") {
			mails++
		}
	}
	return hooks, mails
}

// A supernode going silent leaves an agent with k = 2 heartbeats from
// fewer than k: its operator gets one stale alarm by mail and webhook
// however many checks find it stale, then one recovery notice when the
// supernode is back.
func TestHeartbeatAlarmNotifiedOnceThenRecovery(t *testing.T) {
	ch := startChannels(t)
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2,
		Configure: func(name string, cfg *node.Config) {
			cfg.Heartbeat = node.HeartbeatConfig{Interval: node.Duration(200 * time.Millisecond), MaxAge: node.Duration(3 * time.Second)}
			if name == "agent-01" {
				cfg.Notify = ch.cfg
			}
		}})
	ctx := context.Background()
	agent, silent := l.Agents[0], l.Supernodes[1]
	waitFor(t, 30*time.Second, "heartbeats from both supernodes", func() bool { return len(agent.Heartbeats()) == 2 })
	if got := ch.received(t).notices(); len(got) != 0 {
		t.Fatalf("notices before any alarm: %v", got)
	}

	if err := l.Stop(silent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the stale alarm on both channels", func() bool {
		hooks, mails := ch.received(t).count(updates.NoticeAlarm, string(node.EventHeartbeatStale))
		return hooks > 0 && mails > 0
	})
	// Let the agent check (and find itself stale) a few more times: the
	// live supernode's next heartbeats come at the same interval.
	last := newestSeq(agent)
	for range 3 {
		waitFor(t, 10*time.Second, "the next heartbeat", func() bool { return newestSeq(agent) > last })
		last = newestSeq(agent)
	}

	if err := l.Start(ctx, silent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the recovery notice on both channels", func() bool {
		hooks, mails := ch.received(t).count(updates.NoticeRecovered, string(node.EventHeartbeatOK))
		return hooks > 0 && mails > 0
	})
	got := ch.received(t)
	want := []string{"alarm heartbeat-stale", "recovered heartbeat-ok"}
	if d := strings.Join(got.notices(), ", "); d != strings.Join(want, ", ") {
		t.Errorf("webhook notices %s, want %s", d, strings.Join(want, ", "))
	}
	if len(got.mail) != 2 {
		t.Errorf("mails %q, want the alarm and the recovery", got.mail)
	}
	if p := got.webhook[0]; !strings.Contains(p.Notice.Detail, "cut off") || p.Host != agent.ID().String() {
		t.Errorf("stale alarm %+v, want the agent's reason and host", p)
	}
}

// newestSeq is the sequence of the newest heartbeat m holds.
func newestSeq(m *nodelab.Member) uint64 {
	var seq uint64
	for _, hb := range m.Heartbeats() {
		seq = max(seq, hb.Seq)
	}
	return seq
}

// A byzantine supernode co-signs a conflicting payload for a version the
// agent installed: the operator is told of the install, then of the
// quarantine, by mail and webhook, the alert naming the byzantine signer.
func TestByzantineCoSignatureAlertsOperator(t *testing.T) {
	ch := startChannels(t)
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 1,
		Configure: func(name string, cfg *node.Config) {
			if name == "agent-01" {
				cfg.Notify = ch.cfg
			}
			if name == "supernode-2" {
				// Its attacker co-signs by hand: had it co-signed the honest
				// fix too, it would be caught signing both and not count,
				// and the conflicting payload would be held aside below k
				// instead of making k and being quarantined.
				cfg.CoSign.Publishers = nil
			}
		}})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0091", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the install notice on both channels", func() bool {
		got := ch.received(t)
		return len(got.notices()) > 0 && len(got.mail) > 0
	})
	if got := ch.received(t); got.webhook[0].Notice.Kind != string(node.EventInstalled) || got.webhook[0].Notice.ID != fix.ID ||
		!strings.Contains(got.mail[0], "installed "+fix.ID+" version 1") {
		t.Fatalf("first notice %+v, mail %q; want the install of %s", got.webhook[0].Notice, got.mail[0], fix.ID)
	}

	byz := l.Supernodes[1]
	raw := signWith(t, conflicting(t, l, fix), l.Publisher, byz)
	if err := byz.Overlay().Publish(ctx, byz.Overlay().AnnounceTopic(), raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the quarantine alert on both channels", func() bool {
		got := ch.received(t)
		return len(got.webhook) == 2 && len(got.mail) == 2
	})
	got := ch.received(t)
	alert := got.webhook[1].Alert
	if alert == nil || alert.Kind != updates.AlertEquivocation || alert.ID != fix.ID ||
		!strings.Contains(strings.Join(alert.Second.Signers, " "), byz.ID().String()) {
		t.Errorf("webhook alert %+v, want the equivocation naming %s", alert, byz.ID())
	}
	if !strings.Contains(got.mail[1], "ALERT equivocation") {
		t.Errorf("mail %q, want the equivocation alert", got.mail[1])
	}
}

// An agent whose one bootstrap peer cannot be reached, and which has no
// other peer, tells its operator once that it cannot join the zone, and
// once that it has a peer again.
func TestBootstrapFailureNotified(t *testing.T) {
	ch := startChannels(t)
	dead := freeport.Get(t)
	var deadPeer string
	dials := &dialCounter{}
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1,
		Configure: func(name string, cfg *node.Config) {
			if name == "agent-02" {
				cfg.Notify = ch.cfg
				cfg.Overlay.BootstrapPeers = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", dead, deadPeer)}
				cfg.Logger = slog.New(dials)
			}
		}})
	ctx := context.Background()
	deadPeer = l.Supernodes[0].ID().String() // a real peer ID at an address where nothing listens
	lost, err := l.AddAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the bootstrap alarm on both channels", func() bool {
		hooks, mails := ch.received(t).count(updates.NoticeAlarm, string(node.EventBootstrapFailed))
		return hooks > 0 && mails > 0
	})
	// Rounds keep failing (one a second in the lab): the alarm stays one.
	waitFor(t, 30*time.Second, "three failed bootstrap dials", func() bool { return dials.failed.Load() >= 3 })
	if err := lost.Overlay().Connect(ctx, l.Publisher.Overlay().AddrInfo()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the recovery notice on both channels", func() bool {
		hooks, mails := ch.received(t).count(updates.NoticeRecovered, string(node.EventBootstrapOK))
		return hooks > 0 && mails > 0
	})
	want := "alarm bootstrap-failed, recovered bootstrap-ok"
	if got := strings.Join(ch.received(t).notices(), ", "); got != want {
		t.Errorf("webhook notices %s, want %s", got, want)
	}
	if n := lost.Status().Count[node.EventBootstrapFailed]; n != 1 {
		t.Errorf("%d bootstrap-failed events, want one per episode", n)
	}
}

// dialCounter is a slog handler counting the failed bootstrap dials the
// overlay logs.
type dialCounter struct{ failed atomic.Int64 }

func (d *dialCounter) Enabled(context.Context, slog.Level) bool { return true }
func (d *dialCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "cannot reach bootstrap peer" {
		d.failed.Add(1)
	}
	return nil
}
func (d *dialCounter) WithAttrs([]slog.Attr) slog.Handler { return d }
func (d *dialCounter) WithGroup(string) slog.Handler      { return d }

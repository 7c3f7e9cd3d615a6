package updates

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/updates/notifytest"
)

// selfSignedTLS makes a server certificate for 127.0.0.1 and a client
// configuration trusting it.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return server, client
}

func testNotification() Notification {
	a := validAnnouncement()
	a.Summary = "openssl - security update\r\nBcc: victim@example.org" // header injection attempt
	a.Patchnet.RebootRequired = true
	d := mustPolicyNoT(DefaultRespondConfig()).Decide(a, testNow)
	m := Match(Host{Ecosystem: "Debian:12", Packages: []Installed{{Name: "libssl3", SourceName: "openssl", Version: "3.0.22-1~deb12u2"}}}, a)
	return Notification{Host: "web-1", Zone: "acme", Announcement: a, Decision: d, Match: &m, At: testNow}
}

func mustPolicyNoT(cfg RespondConfig) *RespondPolicy {
	p, err := NewRespondPolicy(cfg)
	if err != nil {
		panic(err)
	}
	return p
}

func TestSMTPNotifier(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	tests := []struct {
		name     string
		security string
		tls      *tls.Config
		user     string
	}{
		{"plaintext to loopback with auth", SMTPNone, nil, "ops"},
		{"starttls", SMTPStartTLS, serverTLS, "ops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := notifytest.StartSMTP(t, tt.user, "s3cret", tt.tls)
			addr := box.Addr
			cfg := DefaultSMTPConfig()
			cfg.Addr, cfg.From, cfg.To = addr, "patchnet@web-1.example.org", []string{"ops@example.org", "sec@example.org"}
			cfg.Security, cfg.Username, cfg.Password, cfg.TLS = tt.security, tt.user, "s3cret", clientTLS
			n, err := NewSMTPNotifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Notify(context.Background(), testNotification()); err != nil {
				t.Fatal(err)
			}
			msgs := box.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages received, want 1", len(msgs))
			}
			got := msgs[0]
			if diff := cmp.Diff([]string{"ops@example.org", "sec@example.org"}, got.To); diff != "" || got.From != cfg.From || got.Auth != "ops" {
				t.Errorf("envelope from %q to %v auth %q", got.From, got.To, got.Auth)
			}
			msg, err := mail.ReadMessage(strings.NewReader(string(got.Data)))
			if err != nil {
				t.Fatalf("parsing received message: %v\n%s", err, got.Data)
			}
			subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if !strings.Contains(subject, "[patchnet] security DSA-9001-1 on web-1 (apply, reboot required)") {
				t.Errorf("Subject = %q", subject)
			}
			if msg.Header.Get("Bcc") != "" {
				t.Error("announcement text injected a Bcc header")
			}
			if msg.Header.Get("X-Patchnet-Mode") != "apply" || msg.Header.Get("Message-Id") == "" {
				t.Errorf("headers = %v", msg.Header)
			}
			body, _ := io.ReadAll(msg.Body)
			for _, want := range []string{"Host: web-1", "Announcement: DSA-9001-1 version 1", "CVEs: CVE-2026-0001",
				"Decision: apply", "a reboot is required: reported, never performed",
				"libssl3 (source openssl) 3.0.22-1~deb12u2 < fixed 3.0.23-1~deb12u1 on Debian:12"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
		})
	}
}

func TestSMTPNotifierErrors(t *testing.T) {
	addr := notifytest.StartSMTP(t, "ops", "right", nil).Addr
	cfg := DefaultSMTPConfig()
	cfg.Addr, cfg.To, cfg.Security, cfg.Username, cfg.Password = addr, []string{"ops@example.org"}, SMTPNone, "ops", "wrong"
	n, err := NewSMTPNotifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), testNotification()); err == nil || !strings.Contains(err.Error(), "authenticating") {
		t.Fatalf("Notify with a wrong password = %v", err)
	}
	// STARTTLS against a server that does not offer it fails closed.
	cfg.Security = SMTPStartTLS
	n, _ = NewSMTPNotifier(cfg)
	if err := n.Notify(context.Background(), testNotification()); err == nil || !strings.Contains(err.Error(), "starting TLS") {
		t.Fatalf("Notify with STARTTLS unavailable = %v", err)
	}
}

func TestSMTPConfigValidate(t *testing.T) {
	tests := []struct {
		mutate func(c *SMTPConfig)
		want   string
	}{
		{func(c *SMTPConfig) { c.Addr = "mail" }, `notify.smtp.addr: "mail": want host:port`},
		{func(c *SMTPConfig) { c.From = "not an address" }, `notify.smtp.from: "not an address"`},
		{func(c *SMTPConfig) { c.To = nil }, "notify.smtp.to: 0 recipients"},
		{func(c *SMTPConfig) { c.To = []string{"a@b", "bad"} }, `notify.smtp.to[1]: "bad"`},
		{func(c *SMTPConfig) { c.Security = "ssl" }, `notify.smtp.security: "ssl"`},
		{func(c *SMTPConfig) { c.Addr, c.Security, c.Username = "mail.example.org:25", SMTPNone, "u" }, "refusing to send a password in plaintext"},
		{func(c *SMTPConfig) { c.Timeout = 0 }, "notify.smtp.timeout: 0s"},
	}
	for _, tt := range tests {
		c := DefaultSMTPConfig()
		c.To = []string{"ops@example.org"}
		tt.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want %q", err, tt.want)
		}
	}
}

func TestWebhookNotifier(t *testing.T) {
	var attempts atomic.Int64
	var got WebhookPayload
	var sig, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) < 3 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte("hush"))
		mac.Write(body)
		sig = r.Header.Get("X-Patchnet-Signature")
		if sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		auth = r.Header.Get("Authorization")
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	cfg := DefaultWebhookConfig()
	cfg.URL, cfg.Secret, cfg.Backoff = srv.URL, "hush", Duration(time.Millisecond)
	cfg.Headers = map[string]string{"Authorization": "Bearer t0ken"}
	n, err := NewWebhookNotifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	if attempts.Load() != 3 || auth != "Bearer t0ken" {
		t.Errorf("attempts %d, auth %q", attempts.Load(), auth)
	}
	if got.Host != "web-1" || got.Announcement == nil || got.Announcement.ID != "DSA-9001-1" || got.Decision.Mode != ModeApply ||
		!got.Decision.RebootRequired || got.Match == nil || !got.Match.Applies {
		t.Errorf("payload = %+v", got)
	}
}

func TestWebhookNotifierErrors(t *testing.T) {
	var attempts atomic.Int64
	status := http.StatusInternalServerError
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Error(w, "nope", status)
	}))
	defer srv.Close()
	cfg := DefaultWebhookConfig()
	cfg.URL, cfg.Backoff, cfg.Attempts = srv.URL, Duration(time.Millisecond), 3
	n, _ := NewWebhookNotifier(cfg)
	err := n.Notify(context.Background(), testNotification())
	if err == nil || !strings.Contains(err.Error(), "attempt 3: server answered 500 Internal Server Error") || attempts.Load() != 3 {
		t.Fatalf("Notify = %v after %d attempts", err, attempts.Load())
	}
	attempts.Store(0)
	status = http.StatusForbidden
	err = n.Notify(context.Background(), testNotification())
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden") || attempts.Load() != 1 {
		t.Fatalf("Notify(403) = %v after %d attempts; want no retry", err, attempts.Load())
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	tests := []struct {
		mutate func(c *WebhookConfig)
		want   string
	}{
		{func(c *WebhookConfig) { c.URL = "" }, "notify.webhook.url"},
		{func(c *WebhookConfig) { c.Attempts = 0 }, "notify.webhook.attempts: 0"},
		{func(c *WebhookConfig) { c.Backoff = Duration(time.Hour) }, "notify.webhook.backoff: 1h0m0s"},
		{func(c *WebhookConfig) { c.Timeout = -1 }, "notify.webhook.timeout"},
	}
	for _, tt := range tests {
		c := DefaultWebhookConfig()
		c.URL = "https://hooks.example.org/x"
		tt.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want %q", err, tt.want)
		}
	}
}

func TestNotifyConfigDeliversToEveryChannel(t *testing.T) {
	box := notifytest.StartSMTP(t, "", "", nil)
	addr := box.Addr
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusNotFound)
	}))
	defer srv.Close()
	smtpCfg := DefaultSMTPConfig()
	smtpCfg.Addr, smtpCfg.To, smtpCfg.Security = addr, []string{"ops@example.org"}, SMTPNone
	hookCfg := DefaultWebhookConfig()
	hookCfg.URL = srv.URL
	n, err := NotifyConfig{Webhook: &hookCfg, SMTP: &smtpCfg}.Notifier()
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), testNotification())
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("Notify = %v, want the webhook's failure", err)
	}
	if n := len(box.Messages()); n != 1 {
		t.Errorf("email not sent although only the webhook failed (%d messages)", n)
	}
	if n, err := (NotifyConfig{}).Notifier(); n != nil || err != nil {
		t.Errorf("empty config: %v, %v", n, err)
	}
	bad := DefaultWebhookConfig()
	if _, err := (NotifyConfig{Webhook: &bad}).Notifier(); err == nil || !strings.Contains(err.Error(), "notify.webhook.url") {
		t.Errorf("invalid webhook config: %v", err)
	}
}

// A notice names its severity, kind, update and host in the subject, its
// detail in the body and the webhook payload, on one line whatever the
// detail holds.
func TestNoticeNotification(t *testing.T) {
	tests := []struct {
		notice  Notice
		subject string
	}{
		{Notice{Kind: "heartbeat-stale", Severity: NoticeAlarm, Detail: "heartbeats from 1 of the 2 supernodes\r\nBcc: x@example.org"},
			"[patchnet] ALARM heartbeat-stale on web-1: heartbeats from 1 of the 2 supernodes  Bcc: x@example.org"},
		{Notice{Kind: "heartbeat-ok", Severity: NoticeRecovered, Detail: "heartbeats from 2 supernodes again"},
			"[patchnet] RECOVERED heartbeat-ok on web-1: heartbeats from 2 supernodes again"},
		{Notice{Kind: "installed", Severity: NoticeInfo, ID: "PNT-1", Version: 2, Detail: "installed libssl3=3.0.23"},
			"[patchnet] installed PNT-1 version 2 on web-1: installed libssl3=3.0.23"},
	}
	for _, tt := range tests {
		n := Notification{Host: "web-1", Zone: "acme", Notice: &tt.notice, At: testNow}
		if got := n.Subject(); got != tt.subject {
			t.Errorf("Subject = %q, want %q", got, tt.subject)
		}
		if body := n.Body(); !strings.Contains(body, strings.ToUpper(tt.notice.Severity)+": "+tt.notice.Kind) ||
			!strings.Contains(body, oneLine(tt.notice.Detail)) {
			t.Errorf("Body lacks the notice:\n%s", body)
		}
		if p := n.Payload(); p.Notice == nil || *p.Notice != tt.notice || p.Announcement != nil {
			t.Errorf("Payload = %+v, want the notice alone", p)
		}
	}
}

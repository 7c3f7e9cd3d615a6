package updates

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/patchnet/patchnet/internal/duration"
)

// WebhookConfig is the [notify.webhook] section.
type WebhookConfig struct {
	// URL receives a POST of JSON per notification.
	URL string `toml:"url"`
	// Headers are added to each request (e.g. Authorization).
	Headers map[string]string `toml:"headers"`
	// Secret, when set, signs the body: header X-Patchnet-Signature is
	// "sha256=" + hex HMAC-SHA256(secret, body).
	Secret string `toml:"secret"`
	// Attempts is how many times a failed delivery is tried in all.
	Attempts int `toml:"attempts"`
	// Backoff is the wait after the first failure; it doubles after each
	// further one, up to MaxWebhookBackoff.
	Backoff Duration `toml:"backoff"`
	// Timeout bounds one request.
	Timeout Duration `toml:"timeout"`
}

// DefaultWebhookConfig tries three times, one second apart at first.
func DefaultWebhookConfig() WebhookConfig {
	return WebhookConfig{
		Attempts: 3,                              // ride out a receiver restart
		Backoff:  Duration(time.Second),          // then 2s
		Timeout:  Duration(DefaultNotifyTimeout), // per request
	}
}

// Validate names the first bad field.
func (c WebhookConfig) Validate() error {
	if err := ValidateFetchURL(c.URL); err != nil {
		return fmt.Errorf("notify.webhook.url: %w", err)
	}
	if c.Attempts < 1 || c.Attempts > MaxWebhookAttempts {
		return fmt.Errorf("notify.webhook.attempts: %d is not in 1..%d", c.Attempts, MaxWebhookAttempts)
	}
	if c.Backoff < 0 || time.Duration(c.Backoff) > MaxWebhookBackoff {
		return fmt.Errorf("notify.webhook.backoff: %s is not in 0..%s", c.Backoff, MaxWebhookBackoff)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("notify.webhook.timeout: %s is not positive", c.Timeout)
	}
	return nil
}

// WebhookNotifier POSTs notifications as JSON (WebhookPayload).
type WebhookNotifier struct {
	cfg    WebhookConfig
	client *http.Client
}

// NewWebhookNotifier validates cfg.
func NewWebhookNotifier(cfg WebhookConfig) (*WebhookNotifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &WebhookNotifier{cfg: cfg, client: &http.Client{Timeout: time.Duration(cfg.Timeout)}}, nil
}

// WebhookPayload is the JSON body a webhook receives.
type WebhookPayload struct {
	Host         string            `json:"host"`
	Zone         string            `json:"zone,omitempty"`
	At           time.Time         `json:"at"`
	Subject      string            `json:"subject"`
	Announcement *WebhookSummary   `json:"announcement,omitempty"`
	Decision     *WebhookDecision  `json:"decision,omitempty"`
	Match        *WebhookMatch     `json:"match,omitempty"`
	Alert        *Alert            `json:"alert,omitempty"`
	Notice       *Notice           `json:"notice,omitempty"`
	Extra        map[string]string `json:"extra,omitempty"`
}

// WebhookSummary is the announcement as a webhook sees it.
type WebhookSummary struct {
	ID             string     `json:"id"`
	Version        uint64     `json:"version"`
	Categories     []Category `json:"categories"`
	Summary        string     `json:"summary,omitempty"`
	CVEs           []string   `json:"cves,omitempty"`
	Expires        time.Time  `json:"expires"`
	RebootRequired bool       `json:"reboot_required"`
}

// WebhookDecision is the respond decision.
type WebhookDecision struct {
	Mode           Mode      `json:"mode"`
	Reason         string    `json:"reason"`
	NotBefore      time.Time `json:"not_before,omitzero"`
	RebootRequired bool      `json:"reboot_required"`
}

// WebhookMatch is the matching outcome.
type WebhookMatch struct {
	Applies bool     `json:"applies"`
	Reasons []string `json:"reasons"`
}

// Payload converts a notification to its webhook body.
func (n Notification) Payload() WebhookPayload {
	p := WebhookPayload{Host: n.Host, Zone: n.Zone, At: n.At.UTC(), Subject: n.Subject(), Alert: n.Alert, Notice: n.Notice}
	if a := n.Announcement; a != nil {
		p.Announcement = &WebhookSummary{ID: a.ID, Version: a.Patchnet.Version, Categories: a.Patchnet.Categories,
			Summary: a.Summary, CVEs: a.CVEs(), Expires: a.Patchnet.Expires, RebootRequired: a.Patchnet.RebootRequired}
		d := n.Decision
		p.Decision = &WebhookDecision{Mode: d.Mode, Reason: d.Reason, NotBefore: d.NotBefore, RebootRequired: d.RebootRequired}
	}
	if n.Match != nil {
		p.Match = &WebhookMatch{Applies: n.Match.Applies, Reasons: n.Match.Reasons}
	}
	return p
}

// errPermanent marks a delivery failure that retrying cannot fix.
var errPermanent = errors.New("not retried")

// Notify POSTs n, retrying network errors, 408, 429 and 5xx with doubling
// backoff; any other non-2xx status fails at once. Errors name the status.
func (w *WebhookNotifier) Notify(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n.Payload())
	if err != nil {
		return fmt.Errorf("notifying webhook: encoding: %w", err)
	}
	wait := time.Duration(w.cfg.Backoff)
	var errs []error
	for attempt := 1; attempt <= w.cfg.Attempts; attempt++ {
		err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt, err))
		if errors.Is(err, errPermanent) || attempt == w.cfg.Attempts {
			break
		}
		if err := duration.Sleep(ctx, wait); err != nil {
			errs = append(errs, err)
			break
		}
		wait = min(2*wait, MaxWebhookBackoff)
	}
	return fmt.Errorf("notifying webhook %s: %w", w.cfg.URL, errors.Join(errs...))
}

func (w *WebhookNotifier) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w: %w", err, errPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchnet")
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	if w.cfg.Secret != "" {
		mac := hmac.New(sha256.New, []byte(w.cfg.Secret))
		mac.Write(body)
		req.Header.Set("X-Patchnet-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, MaxWebhookResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("server answered %s: %q", resp.Status, clip(oneLine(string(reply))))
	if resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return err
	}
	return fmt.Errorf("%w (%w)", err, errPermanent)
}

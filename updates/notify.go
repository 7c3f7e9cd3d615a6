package updates

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Notification is what a host tells people about an announcement: what it
// is, whether it matches this host, what the host will do, and any alert.
type Notification struct {
	Host         string
	Zone         string
	Announcement *Announcement
	Decision     Decision
	// Match is nil when the host did not evaluate the announcement.
	Match *MatchResult
	// Alert, when set, is the reason for the notification (equivocation).
	Alert *Alert
	// Notice, when set, is the reason for the notification: an alarm, its
	// end, or an outcome such as an install.
	Notice *Notice
	At     time.Time
}

// Notifier delivers notifications: SMTPNotifier and WebhookNotifier.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Subject is a one-line summary for an email subject or chat title.
func (n Notification) Subject() string {
	if n.Alert != nil {
		return fmt.Sprintf("[patchnet] ALERT %s on %s: %s version %d", n.Alert.Kind, n.Host, n.Alert.ID, n.Alert.Version)
	}
	if n.Notice != nil {
		return oneLine(n.Notice.subject(n.Host))
	}
	a := n.Announcement
	if a == nil {
		return fmt.Sprintf("[patchnet] %s", n.Host)
	}
	what := string(n.Decision.Mode)
	if n.Decision.RebootRequired {
		what += ", reboot required"
	}
	return oneLine(fmt.Sprintf("[patchnet] %s %s on %s (%s): %s", categoriesText(a.Patchnet.Categories), a.ID, n.Host, what, a.Summary))
}

// Body is the plain-text account for people.
func (n Notification) Body() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Host: %s\nZone: %s\nTime: %s\n", n.Host, n.Zone, n.At.UTC().Format(time.RFC3339))
	if n.Alert != nil {
		fmt.Fprintf(&b, "\nALERT: %s\n", n.Alert)
	}
	if n.Notice != nil {
		n.Notice.writeBody(&b)
	}
	if a := n.Announcement; a != nil {
		writeAnnouncementSummary(&b, a)
		fmt.Fprintf(&b, "\nDecision: %s (%s)\n", n.Decision.Mode, n.Decision.Reason)
		if !n.Decision.NotBefore.IsZero() {
			fmt.Fprintf(&b, "Not before: %s\n", n.Decision.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	if m := n.Match; m != nil {
		fmt.Fprintf(&b, "\nApplies to this host: %v\n", m.Applies)
		for _, r := range m.Reasons {
			fmt.Fprintf(&b, "  - %s\n", r)
		}
	}
	return b.String()
}

func writeAnnouncementSummary(b *strings.Builder, a *Announcement) {
	fmt.Fprintf(b, "\nAnnouncement: %s version %d\nCategories: %s\n", a.ID, a.Patchnet.Version, categoriesText(a.Patchnet.Categories))
	if cves := a.CVEs(); len(cves) > 0 {
		fmt.Fprintf(b, "CVEs: %s\n", strings.Join(cves, ", "))
	}
	if a.Summary != "" {
		fmt.Fprintf(b, "Summary: %s\n", oneLine(a.Summary))
	}
	fmt.Fprintf(b, "Expires: %s\n", a.Patchnet.Expires.UTC().Format(time.RFC3339))
	if ar := a.Patchnet.Artifact; ar != nil {
		fmt.Fprintf(b, "Artifact: %s (%d bytes, %s, sha256 %s)\n", ar.Name, ar.Size, ar.Method, ar.SHA256)
		if ar.Instructions != "" {
			fmt.Fprintf(b, "Instructions:\n%s\n", ar.Instructions)
		}
	}
}

func categoriesText(cs []Category) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, "+")
}

// oneLine replaces line breaks and control characters, so text from an
// announcement cannot inject mail headers or fake log lines.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// NotifyConfig is the [notify] section: any of the channels, or none.
type NotifyConfig struct {
	SMTP    *SMTPConfig    `toml:"smtp"`
	Webhook *WebhookConfig `toml:"webhook"`
}

// Notifier builds one notifier delivering to every configured channel; nil
// when none is configured.
func (c NotifyConfig) Notifier() (Notifier, error) {
	var all Notifiers
	if c.SMTP != nil {
		n, err := NewSMTPNotifier(*c.SMTP)
		if err != nil {
			return nil, err
		}
		all = append(all, n)
	}
	if c.Webhook != nil {
		n, err := NewWebhookNotifier(*c.Webhook)
		if err != nil {
			return nil, err
		}
		all = append(all, n)
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

// Notifiers delivers to each notifier in turn; one failing channel does not
// keep the others from being told. The error joins every failure.
type Notifiers []Notifier

// Notify implements Notifier.
func (ns Notifiers) Notify(ctx context.Context, n Notification) error {
	var errs []error
	for _, x := range ns {
		if err := x.Notify(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

package updates

import (
	"fmt"
	"strings"
)

// Notice severities: an alarm starts an episode, recovered ends it, info
// reports an outcome (an install, a CRL applied).
const (
	NoticeAlarm     = "alarm"
	NoticeRecovered = "recovered"
	NoticeInfo      = "info"
)

// Notice is an operational event a host tells people about, beside
// announcements (notify mode) and equivocation alerts: an alarm (heartbeats
// stale or disagreeing, bootstrap failing, a quarantined install), its end,
// or an outcome (installed, failed, rolled back, a CRL applied). The node
// decides which events become notices and keeps alarms to one per episode.
type Notice struct {
	// Kind is the node's event kind ("heartbeat-stale", "installed", …).
	Kind string `json:"kind"`
	// Severity is NoticeAlarm, NoticeRecovered or NoticeInfo.
	Severity string `json:"severity"`
	// ID and Version name the update concerned, if any.
	ID      string `json:"id,omitempty"`
	Version uint64 `json:"version,omitempty"`
	// Detail is the node's sentence for people: what happened and why.
	Detail string `json:"detail"`
}

// subject is the notice's one-line summary on host.
func (n Notice) subject(host string) string {
	what := n.Kind
	if n.ID != "" {
		what += fmt.Sprintf(" %s version %d", n.ID, n.Version)
	}
	switch n.Severity {
	case NoticeAlarm:
		return fmt.Sprintf("[patchnet] ALARM %s on %s: %s", what, host, clip(n.Detail))
	case NoticeRecovered:
		return fmt.Sprintf("[patchnet] RECOVERED %s on %s: %s", what, host, clip(n.Detail))
	}
	return fmt.Sprintf("[patchnet] %s on %s: %s", what, host, clip(n.Detail))
}

// writeBody writes the notice's account for people.
func (n Notice) writeBody(b *strings.Builder) {
	fmt.Fprintf(b, "\n%s: %s\n", strings.ToUpper(n.Severity), n.Kind)
	if n.ID != "" {
		fmt.Fprintf(b, "Update: %s version %d\n", n.ID, n.Version)
	}
	fmt.Fprintf(b, "%s\n", oneLine(n.Detail))
}

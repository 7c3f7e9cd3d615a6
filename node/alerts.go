package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// Events that exist for the operator's sake.
const (
	// EventBootstrapFailed: a round of dials reached none of the bootstrap
	// peers and the node is connected to no peer at all: it cannot join
	// its zone.
	EventBootstrapFailed EventKind = "bootstrap-failed"
	// EventBootstrapOK: a peer connected after EventBootstrapFailed.
	EventBootstrapOK EventKind = "bootstrap-ok"
	// EventRolledBack: an install transaction was rolled back through the
	// local API.
	EventRolledBack EventKind = "rolled-back"
	// EventInstallAlert: the installer raised an alert (a tampered or
	// unpinned installer binary, a failed recovery, a state it cannot
	// observe).
	EventInstallAlert EventKind = "install-alert"
)

// Alarms are episodes: each is told once when it starts and once when it
// ends, however often the condition is seen in between.
const (
	alarmStale     = "stale"     // heartbeats from fewer than k supernodes
	alarmMismatch  = "mismatch"  // k supernodes co-signed a set this agent lacks
	alarmBootstrap = "bootstrap" // no bootstrap peer reachable, no peer at all
)

// alarmOf maps an alarm event to its alarm. The event ending an alarm
// (EventHeartbeatOK, EventBootstrapOK) names it in its Reason.
var alarmOf = map[EventKind]string{
	EventHeartbeatStale: alarmStale, EventHeartbeatMismatch: alarmMismatch, EventBootstrapFailed: alarmBootstrap,
}

// outcomes are the one-off events people are told of, each once per
// update (or per detail, for those of no update), with its severity.
var outcomes = map[EventKind]string{
	EventInstalled: updates.NoticeInfo, EventRolledBack: updates.NoticeInfo, EventCRL: updates.NoticeInfo,
	EventFailed: updates.NoticeAlarm, EventRefusedInstall: updates.NoticeAlarm, EventInstallAlert: updates.NoticeAlarm,
	EventRefused: updates.NoticeAlarm,
}

// reasonReplayed marks the CRL event of CRLs applied again at start: no
// news for people.
const reasonReplayed = "replayed"

// told is an outcome people need to hear of: not a failed fetch that is
// retried (people hear when the agent gives up), not a supernode's
// refusal other than of an equivocating publisher, not CRLs replayed.
func told(e Event) bool {
	switch e.Kind {
	case EventFailed:
		return e.State == StateFailed || e.State == StateGaveUp
	case EventRefused:
		return e.Reason == reasonOf(trust.ErrEquivocation)
	case EventCRL:
		return e.Reason != reasonReplayed
	}
	return true
}

// alarms keeps the alarms in force, which of them people were told of,
// and the one-off notices sent, so that a condition seen again and again
// (a mismatch found at every check, dials failing every round) reaches
// people once per episode.
type alarms struct {
	mu     sync.Mutex
	active map[string]bool // conditions in force (bootstrap)
	told   map[string]bool // alarms notified and not yet ended
	sent   map[string]bool // one-off notices, by kind, id, version and detail
	fifo   []string        // sent's keys, oldest first, to bound it
}

func newAlarms() *alarms {
	return &alarms{active: map[string]bool{}, told: map[string]bool{}, sent: map[string]bool{}}
}

// set records whether the condition alarm is in force and reports whether
// that changed.
func (a *alarms) set(alarm string, on bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := a.active[alarm] != on
	a.active[alarm] = on
	return changed
}

// tell marks alarm told (on) or ended (off) and reports whether people
// are to hear of it: an alarm not told yet, the end of one told.
func (a *alarms) tell(alarm string, on bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	was := a.told[alarm]
	a.told[alarm] = on
	return was != on
}

// once reports whether key is new, and remembers it (the oldest of
// MaxAlertKeys forgotten first).
func (a *alarms) once(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent[key] {
		return false
	}
	if len(a.fifo) == MaxAlertKeys {
		delete(a.sent, a.fifo[0])
		a.fifo = a.fifo[1:]
	}
	a.sent[key] = true
	a.fifo = append(a.fifo, key)
	return true
}

// alertOn tells people, through [notify], about an event an operator must
// know of: alarms and their end, installs and their failures, rollbacks,
// installer alerts, CRLs applied, a supernode refusing an equivocating
// publisher. An equivocation an agent quarantines is told by accept, with
// both sides and their signers.
func (n *Node) alertOn(e Event) {
	if n.notifier == nil {
		return
	}
	if note, ok := n.noticeOf(e); ok {
		n.notify(context.Background(), updates.Notification{Notice: &note})
	}
}

// noticeOf is the notice e stands for, if people are to hear of it now.
func (n *Node) noticeOf(e Event) (updates.Notice, bool) {
	note := updates.Notice{Kind: string(e.Kind), ID: e.ID, Version: e.Version, Detail: e.Detail}
	if alarm, ok := alarmOf[e.Kind]; ok {
		note.Severity = updates.NoticeAlarm
		return note, n.alarms.tell(alarm, true)
	}
	if e.Kind == EventHeartbeatOK || e.Kind == EventBootstrapOK {
		note.Severity = updates.NoticeRecovered
		return note, n.alarms.tell(e.Reason, false)
	}
	severity, ok := outcomes[e.Kind]
	if !ok || !told(e) {
		return note, false
	}
	note.Severity = severity
	key := fmt.Sprintf("%s\x00%s\x00%d\x00%s", e.Kind, e.ID, e.Version, e.State)
	if e.ID == "" {
		key += "\x00" + e.Detail
	}
	return note, n.alarms.once(key)
}

// onBootstrap raises the bootstrap alarm when a round of dials reached
// none of the bootstrap peers and the node has no peer at all.
func (n *Node) onBootstrap(r overlay.BootstrapRound) {
	if r.Failed < r.Dialled || r.Connected > 0 || !n.alarms.set(alarmBootstrap, true) {
		return
	}
	n.emit(Event{Kind: EventBootstrapFailed, Detail: fmt.Sprintf(
		"none of the %d bootstrap peers dialled could be reached and no peer is connected: this node cannot join zone %s (%v)",
		r.Dialled, n.cfg.Zone, r.Err)})
}

// watchBootstrap ends the bootstrap alarm at the first connection after it
// was raised.
func (n *Node) watchBootstrap() {
	n.ov.Host().Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			if n.alarms.set(alarmBootstrap, false) {
				n.emit(Event{Kind: EventBootstrapOK, Reason: alarmBootstrap,
					Detail: fmt.Sprintf("connected to peer %s at %s", c.RemotePeer(), c.RemoteMultiaddr())})
			}
		},
	})
}

// onInstallAlert reports an alert of the installer as an event (logged
// as a warning, and told through [notify]).
func (n *Node) onInstallAlert(a install.Alert) {
	n.emit(Event{Kind: EventInstallAlert, Reason: a.Kind, Detail: a.Message})
}

// onRolledBack reports that rollback, run through the local API, undid
// the install transaction orig.
func (n *Node) onRolledBack(orig, rollback *install.Transaction) {
	n.emit(Event{Kind: EventRolledBack, ID: orig.Plan.AnnouncementID, Version: orig.Plan.AnnouncementVersion,
		Detail: fmt.Sprintf("transaction %s (%s) rolled back by transaction %s: host restored to %s",
			orig.ID, orig.Goal, rollback.ID, rollback.Goal)})
}

package node

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/updates"
)

// Which events reach people, and how often: each alarm once per episode
// and its end once (only after it was told), each outcome once, retried
// fetches and replayed CRLs never.
func TestNoticeOf(t *testing.T) {
	events := []Event{
		{Kind: EventHeartbeatOK, Reason: alarmStale}, // the end of an alarm never told
		{Kind: EventHeartbeatMismatch, Detail: "withheld"},
		{Kind: EventHeartbeatMismatch, Detail: "withheld"}, // found again at the next check
		{Kind: EventHeartbeatOK, Reason: alarmMismatch},
		{Kind: EventHeartbeatOK, Reason: alarmMismatch},
		{Kind: EventHeartbeatMismatch, Detail: "withheld again"}, // a new episode
		{Kind: EventFailed, ID: "PNT-1", Version: 1, State: StateFetching, Detail: "fetch failed: retrying"},
		{Kind: EventFailed, ID: "PNT-1", Version: 1, State: StateGaveUp, Detail: "gave up"},
		{Kind: EventFailed, ID: "PNT-1", Version: 1, State: StateGaveUp, Detail: "gave up"},
		{Kind: EventFailed, ID: "PNT-1", Version: 1, State: StateFailed, Detail: "transaction failed"},
		{Kind: EventInstalled, ID: "PNT-2", Version: 3},
		{Kind: EventInstalled, ID: "PNT-2", Version: 3},
		{Kind: EventCRL, Reason: reasonReplayed, Detail: "applied 1 kept CRL(s) at start"},
		{Kind: EventCRL, Detail: "applied a newer CRL; zone CA #2: 1 revoked"},
		{Kind: EventRefused, ID: "PNT-3", Version: 1, Reason: "digest-mismatch"},
		{Kind: EventRefused, ID: "PNT-3", Version: 2, Reason: "equivocation"},
		{Kind: EventAccepted, ID: "PNT-4", Version: 1},
	}
	n := &Node{alarms: newAlarms()}
	var got []string
	for _, e := range events {
		if note, ok := n.noticeOf(e); ok {
			got = append(got, note.Severity+" "+note.Kind+" "+note.ID+" "+note.Detail)
		}
	}
	want := []string{
		updates.NoticeAlarm + " heartbeat-mismatch  withheld",
		updates.NoticeRecovered + " heartbeat-ok  ",
		updates.NoticeAlarm + " heartbeat-mismatch  withheld again",
		updates.NoticeAlarm + " install-failed PNT-1 gave up",
		updates.NoticeAlarm + " install-failed PNT-1 transaction failed",
		updates.NoticeInfo + " installed PNT-2 ",
		updates.NoticeInfo + " crl  applied a newer CRL; zone CA #2: 1 revoked",
		updates.NoticeAlarm + " refused PNT-3 ",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("notices (-want +got):\n%s", d)
	}
}

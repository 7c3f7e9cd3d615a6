package node

import (
	"context"

	"github.com/patchnet/patchnet/updates"
)

// EventNotified: people were told (notify mode, or an alert) through the
// [notify] channels; EventNotifyFailed: every attempt failed.
const (
	EventNotified     EventKind = "notified"
	EventNotifyFailed EventKind = "notify-failed"
)

// notify delivers n through the configured channels in the background (a
// slow mail server must not hold up acceptance); without channels it does
// nothing, the event log having recorded the decision already.
func (n *Node) notify(ctx context.Context, note updates.Notification) {
	if n.notifier == nil {
		return
	}
	note.Host, note.Zone, note.At = n.ID().String(), n.cfg.Zone, n.verifier.Now()
	id, version := noteSubject(note)
	n.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), NotifyTimeout)
		defer cancel()
		if err := n.notifier.Notify(ctx, note); err != nil {
			n.emit(Event{Kind: EventNotifyFailed, ID: id, Version: version, Detail: err.Error()})
			return
		}
		n.emit(Event{Kind: EventNotified, ID: id, Version: version, Detail: note.Subject()})
	})
}

func noteSubject(note updates.Notification) (string, uint64) {
	switch {
	case note.Alert != nil:
		return note.Alert.ID, note.Alert.Version
	case note.Announcement != nil:
		return note.Announcement.ID, note.Announcement.Patchnet.Version
	}
	return "", 0
}

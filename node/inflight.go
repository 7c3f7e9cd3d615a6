package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/patchnet/patchnet/updates"
)

// cancelCause is why an accepted update's wait ended before it was
// installed: a higher version accepted meanwhile (superseded), a
// withdrawal, or an equivocation found (quarantined).
type cancelCause struct {
	kind EventKind
	text string
}

func (c *cancelCause) Error() string { return c.text }

// inflight tracks the install handlers running per id, so a later
// acceptance (a higher version, a withdrawal, an equivocation) cancels a
// handler that is waiting for its window, rollout slot or a fetch retry
// at once, instead of when it wakes.
type inflight struct {
	mu       sync.Mutex
	handlers map[string]map[uint64]context.CancelCauseFunc // id → version → cancel
}

func newInflight() *inflight {
	return &inflight{handlers: map[string]map[uint64]context.CancelCauseFunc{}}
}

// start registers a handler of (id, version) and returns its context and
// the func that unregisters it.
func (f *inflight) start(ctx context.Context, id string, version uint64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	f.mu.Lock()
	if f.handlers[id] == nil {
		f.handlers[id] = map[uint64]context.CancelCauseFunc{}
	}
	f.handlers[id][version] = cancel
	f.mu.Unlock()
	return ctx, func() {
		f.mu.Lock()
		delete(f.handlers[id], version)
		if len(f.handlers[id]) == 0 {
			delete(f.handlers, id)
		}
		f.mu.Unlock()
		cancel(nil)
	}
}

// cancel ends the handlers of id whose version match says so, with cause.
func (f *inflight) cancel(id string, match func(uint64) bool, cause error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for v, c := range f.handlers[id] {
		if match(v) {
			c(cause)
		}
	}
}

// cancelOlder ends the waits of earlier versions of a's id: a was accepted
// above them (superseded), or withdraws them.
func (n *Node) cancelOlder(a *updates.Announcement) {
	cause := &cancelCause{kind: EventSuperseded, text: fmt.Sprintf("superseded by version %d, accepted while it waited", a.Patchnet.Version)}
	if !a.Withdrawn.IsZero() {
		cause = &cancelCause{kind: EventWithdrawn, text: fmt.Sprintf("withdrawn by version %d while it waited", a.Patchnet.Version)}
	}
	n.agent.handlers.cancel(a.ID, func(v uint64) bool { return v < a.Patchnet.Version }, cause)
}

// cancelVersion ends the wait of one version found quarantined.
func (n *Node) cancelVersion(id string, version uint64) {
	cause := &cancelCause{kind: EventRefusedInstall, text: "quarantined (a conflicting co-signed payload) while it waited"}
	n.agent.handlers.cancel(id, func(v uint64) bool { return v == version }, cause)
}

// cancelled records and reports the final state of an accepted update
// whose wait was ended by cause.
func (n *Node) cancelled(acc *updates.Accepted, cause error) {
	a := acc.Announcement
	kind := EventSuperseded
	var c *cancelCause
	if errors.As(cause, &c) {
		kind = c.kind
	}
	n.step(a, kind, fmt.Sprintf("not installing version %d: %v", a.Patchnet.Version, cause), nil)
}

package node_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
)

// statusInWindow bounds how long a log handler that runs between a
// step's record and its event waits for a status read it started: with
// the step's lock the read can only finish after the step, so the wait
// runs out; without it the read finishes inside the window at once.
const statusInWindow = time.Second

// midStepStatus is a log handler that, when the node logs its installed
// event (after the record moved, before the event is listed), reads the
// node's status over its local API and hands the snapshot on.
type midStepStatus struct {
	state string
	got   chan *node.APIStatus
}

func (h *midStepStatus) Enabled(context.Context, slog.Level) bool { return true }
func (h *midStepStatus) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *midStepStatus) WithGroup(string) slog.Handler            { return h }

func (h *midStepStatus) Handle(_ context.Context, r slog.Record) error {
	installed := false
	r.Attrs(func(a slog.Attr) bool {
		installed = installed || (a.Key == "kind" && a.Value.String() == string(node.EventInstalled))
		return true
	})
	if !installed {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := node.DialAPI(context.Background(), h.state)
		if err != nil {
			h.got <- nil
			return
		}
		defer c.Close()
		st, _ := c.Status(context.Background())
		h.got <- st
	}()
	select {
	case <-done:
	case <-time.After(statusInWindow):
	}
	return nil
}

// A status read while the agent records its install shows the record's
// final state only with the installed event beside it: a collector that
// stops polling an agent at its final state (the netns harness) found
// the state without the event and counted the agent as never having
// installed (TestPrivateZone: "delivered to 0.75 of the agents" while
// every agent had installed).
func TestAPIStatusShowsFinalStateWithItsEvent(t *testing.T) {
	var h *midStepStatus
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1, Configure: func(name string, cfg *node.Config) {
		if name == "agent-01" {
			h = &midStepStatus{state: cfg.State, got: make(chan *node.APIStatus, 1)}
			cfg.Logger = slog.New(h)
		}
	}})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0830", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	var st *node.APIStatus
	select {
	case st = <-h.got:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s never logged its install:\n%s", l.Agents[0].Name, describe(l))
	}
	if st == nil {
		t.Fatal("reading the status while the install was recorded failed")
	}
	u := findUpdate(st, fix.ID)
	if u == nil || !u.Final {
		t.Fatalf("the status read at the install shows update %+v, want it final", u)
	}
	if !slices.ContainsFunc(st.Events, func(e node.APIEvent) bool { return e.ID == fix.ID && e.Kind == node.EventInstalled }) {
		t.Errorf("the status shows %s %s without its installed event: %v", fix.ID, u.State, st.Events)
	}
}

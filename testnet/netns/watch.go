package netns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchnet/patchnet/node"
)

// condition is what a daemon's status must show.
type condition func(*node.APIStatus) bool

// hasEvent holds when the status shows an event of kind for update id.
func hasEvent(id string, kind node.EventKind) condition {
	return func(st *node.APIStatus) bool {
		return slices.ContainsFunc(st.Events, func(e node.APIEvent) bool { return e.ID == id && e.Kind == kind })
	}
}

// eventSince holds when the status shows an event of kind at or after t.
func eventSince(kind node.EventKind, t time.Time) condition {
	return func(st *node.APIStatus) bool {
		return slices.ContainsFunc(st.Events, func(e node.APIEvent) bool { return e.Kind == kind && !e.At.Before(t) })
	}
}

// heardOf holds when the status shows any event of update id.
func heardOf(id string) condition {
	return func(st *node.APIStatus) bool {
		return slices.ContainsFunc(st.Events, func(e node.APIEvent) bool { return e.ID == id })
	}
}

// waitAll polls the named daemons' local APIs until cond holds for each,
// counting them under what; it fails when ctx ends first.
func (c *cluster) waitAll(ctx context.Context, names []string, what string, cond condition) error {
	return c.waitEach(ctx, names, what, func(_ string, st *node.APIStatus) bool { return cond(st) })
}

// waitEach is waitAll with a condition told whose status it reads. Once
// it held for a daemon, that daemon is read no more.
func (c *cluster) waitEach(ctx context.Context, names []string, what string, cond func(string, *node.APIStatus) bool) error {
	clients := map[string]*node.APIClient{}
	defer closeClients(clients)
	done, last := map[string]bool{}, -1
	for {
		for _, name := range names {
			if done[name] {
				continue
			}
			st, err := c.status(ctx, clients, name)
			if err != nil {
				return err
			}
			done[name] = cond(name, st)
		}
		n := countTrue(done)
		if n != last {
			c.progress(what, n, len(names))
			last = n
		}
		if n == len(names) {
			return nil
		}
		select {
		case <-ctx.Done():
			var left []string
			for _, name := range names {
				if !done[name] {
					left = append(left, name)
				}
			}
			return fmt.Errorf("waiting until %s (%d of %d; not %s): %w", what, n, len(names), strings.Join(left[:min(len(left), 10)], ", "), ctx.Err())
		case <-time.After(PollInterval):
		}
	}
}

// countWith reads the named daemons' statuses once and counts those for
// which cond holds.
func (c *cluster) countWith(ctx context.Context, names []string, cond condition) (int, error) {
	clients := map[string]*node.APIClient{}
	defer closeClients(clients)
	n := 0
	for _, name := range names {
		st, err := c.status(ctx, clients, name)
		if err != nil {
			return n, err
		}
		if cond(st) {
			n++
		}
	}
	return n, nil
}

// overlayCounter sums overlay counters (keys of /v1/status's overlay,
// e.g. catch_up_accepted) over the named daemons, reading each once.
func (c *cluster) overlayCounter(ctx context.Context, names []string, keys ...string) (uint64, error) {
	clients := map[string]*node.APIClient{}
	defer closeClients(clients)
	var sum uint64
	for _, name := range names {
		st, err := c.status(ctx, clients, name)
		if err != nil {
			return sum, err
		}
		for _, key := range keys {
			sum += st.Overlay[key]
		}
	}
	return sum, nil
}

// closeClients closes the local API clients a wait dialled.
func closeClients(clients map[string]*node.APIClient) {
	for _, cl := range clients {
		cl.Close()
	}
}

// countTrue is how many values of m are true.
func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

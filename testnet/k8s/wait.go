package k8s

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/patchnet/patchnet/node"
)

// WaitForEvent polls every endpoint's status (FetchStatus, CollectParallel
// at a time) every poll until each one's status shows an event of kind
// about update id ("" for events about no update, a CRL's), or ctx ends;
// progress, if set, is told how many do. A node that does not answer yet
// (a pod still starting) is asked again in the next round.
func WaitForEvent(ctx context.Context, endpoints []string, id string, kind node.EventKind, poll time.Duration, progress func(done, total int)) error {
	done := map[string]bool{}
	for {
		for _, ep := range shows(ctx, pending(endpoints, done), id, kind) {
			done[ep] = true
			if progress != nil {
				progress(len(done), len(endpoints))
			}
		}
		if len(done) == len(endpoints) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s of %q: %w; not yet on %s", kind, id, ctx.Err(), strings.Join(pending(endpoints, done), ", "))
		case <-time.After(poll):
		}
	}
}

// pending are the endpoints not done yet, in their order.
func pending(endpoints []string, done map[string]bool) []string {
	var out []string
	for _, ep := range endpoints {
		if !done[ep] {
			out = append(out, ep)
		}
	}
	return out
}

// shows reads the endpoints' statuses, CollectParallel at a time, and
// returns those that show an event of kind about id.
func shows(ctx context.Context, endpoints []string, id string, kind node.EventKind) []string {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []string
	sem := make(chan struct{}, CollectParallel)
	for _, ep := range endpoints {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if st, err := FetchStatus(ctx, ep); err == nil && hasEvent(st, id, kind) {
				mu.Lock()
				out = append(out, ep)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

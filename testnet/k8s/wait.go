package k8s

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/patchnet/patchnet/node"
)

// WaitForEvent polls every endpoint's status (FetchStatus) every poll
// until each one's status shows an event of kind about update id, or ctx
// ends; progress, if set, is told how many do. A node that does not
// answer yet (a pod still starting) is asked again.
func WaitForEvent(ctx context.Context, endpoints []string, id string, kind node.EventKind, poll time.Duration, progress func(done, total int)) error {
	done := map[string]bool{}
	for {
		for _, ep := range endpoints {
			if done[ep] {
				continue
			}
			if st, err := FetchStatus(ctx, ep); err == nil && hasEvent(st, id, kind) {
				done[ep] = true
				if progress != nil {
					progress(len(done), len(endpoints))
				}
			}
		}
		if len(done) == len(endpoints) {
			return nil
		}
		select {
		case <-ctx.Done():
			var left []string
			for _, ep := range endpoints {
				if !done[ep] {
					left = append(left, ep)
				}
			}
			return fmt.Errorf("waiting for %s of %s: %w; not yet on %s", kind, id, ctx.Err(), strings.Join(left, ", "))
		case <-time.After(poll):
		}
	}
}

package netns

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/patchnet/patchnet/testnet"
)

// httpOrigin is the classical baseline on the same namespaces and links:
// every agent downloads the artifact from the vendor's origin at once
// with curl, as hosts pulling from a mirror would. It has Params.Timeout
// of its own (from ctx, not the run's deadline: patchnet's part may have
// used most of it); a download still running then is not delivered. It
// returns the result and the bytes the origin served for it.
func httpOrigin(ctx context.Context, c *cluster, url string) (testnet.Result, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.p.Timeout)
	defer cancel()
	before := c.vendor.Served()
	start := time.Now()
	var (
		mu    sync.Mutex
		times []time.Duration
		errs  []error
		wg    sync.WaitGroup
	)
	for _, a := range c.agents {
		wg.Go(func() {
			out, err := c.net.Node(a).Command(ctx, "curl", "--silent", "--show-error", "--fail", "--output", "/dev/null", url).CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && ctx.Err() != nil {
				return // cut off by the baseline's timeout: not delivered
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: curl %s: %w: %s", a, url, err, out))
				return
			}
			times = append(times, time.Since(start))
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return testnet.Result{}, 0, errs[0]
	}
	return testnet.Summarize(times, len(c.agents)), c.vendor.Served() - before, nil
}

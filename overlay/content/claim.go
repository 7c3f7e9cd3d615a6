package content

import (
	"context"
	"slices"
	"sync/atomic"
	"time"
)

// Claiming work: fresh runs first, then, for an idle provider, a run
// another has had in flight for pace.stealAfter and will not finish soon
// (work stealing).

// request is one worker's request of a run in flight: its own context,
// so that a copy another request has already delivered in full can be
// called off without dropping its provider.
type request struct {
	s      *source
	run    []int
	ctx    context.Context
	cancel context.CancelFunc
	// got counts the bytes read on s's own claim of run; nil for a
	// stolen copy, whose progress decides no steal.
	got *atomic.Int64
	// superseded: every leaf of run came from other requests first, and
	// this one was cancelled (supersede).
	superseded bool
}

// claim returns the next request for s to make, waiting while there is
// none; nil means s should stop.
func (t *transfer) claim(s *source) *request {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.stopped != nil || s.err != nil || t.next >= len(t.leaves) {
			return nil
		}
		hi := min(len(t.leaves), t.next+ReorderWindow)
		if run := t.freshRun(hi); run != nil {
			return t.mark(run, s, false)
		}
		// Steal only when none of s's own requests is running: on a capped
		// link a duplicate would slow s's own work as much as it helps.
		run, later := t.stealRun(s, hi, time.Now())
		if run != nil && s.active == 0 {
			return t.mark(run, s, true)
		}
		if !later.IsZero() && s.active == 0 {
			t.wakeAtLatest(later)
		}
		t.cond.Wait()
	}
}

// freshRun finds the first run of unclaimed, undelivered leaves below hi.
func (t *transfer) freshRun(hi int) []int {
	var run []int
	for i := t.next; i < hi && len(run) < t.span; i++ {
		free := t.data[i] == nil && t.inflight[i] == 0
		if free {
			run = append(run, i)
		} else if len(run) > 0 {
			break
		}
	}
	return run
}

// runClaim is a provider's claim of a run: when it was made, the run's
// bytes, and how many its request has read so far.
type runClaim struct {
	at    time.Time
	total int64
	got   atomic.Int64
}

// ripe reports whether an idle provider whose pace is rate (bytes a
// second, 0 if unknown) may request the run too at now, or when to look
// again. Not before the run has been in flight for stealAfter; then if
// its provider has sent nothing, or would at its pace so far still need
// longer than the idle one needs for the whole run; an idle provider of
// unknown pace, taken as no faster, only when the holder still needs at
// least twice the time it has had (a third done or less). A duplicate
// that does not finish sooner only loads both links.
func (c *runClaim) ripe(now time.Time, stealAfter time.Duration, rate float64) (bool, time.Time) {
	age := now.Sub(c.at)
	if age < stealAfter {
		return false, c.at.Add(stealAfter)
	}
	got := c.got.Load()
	if got <= 0 {
		return true, time.Time{}
	}
	rest := time.Duration(float64(c.total-got) / float64(got) * float64(age))
	need := 2 * age
	if rate > 0 {
		need = time.Duration(float64(c.total) / rate * float64(time.Second))
	}
	if rest > max(need, stealAfter) {
		return true, time.Time{}
	}
	return false, now.Add(stealAfter / StealRechecks)
}

// paced adds a completed request of run, which took d, to s's pace.
func (t *transfer) paced(s *source, run []int, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, i := range run {
		s.readBytes += int64(t.leaves[i].size)
	}
	s.readTime += d
}

// rateOf is s's pace in bytes a second, 0 before a request of its
// completed; t.mu is held.
func (t *transfer) rateOf(s *source) float64 {
	if s.readTime <= 0 {
		return 0
	}
	return float64(s.readBytes) / s.readTime.Seconds()
}

// stealRun finds the first run another single provider holds that is ripe
// at now; if there is none, later is when to look again (zero if no run
// may ripen).
func (t *transfer) stealRun(s *source, hi int, now time.Time) (run []int, later time.Time) {
	var victim *source
	for i := t.next; i < hi && len(run) < t.span; i++ {
		ok := t.data[i] == nil && t.inflight[i] > 0 && !t.stolen[i] && t.owner[i] != s
		if ok {
			var again time.Time
			if ok, again = t.claims[i].ripe(now, t.pace.stealAfter, t.rateOf(s)); !ok && (later.IsZero() || again.Before(later)) {
				later = again
			}
		}
		if ok && (victim == nil || t.owner[i] == victim) {
			victim = t.owner[i]
			run = append(run, i)
		} else if len(run) > 0 {
			break
		}
	}
	if run != nil {
		later = time.Time{}
	}
	return run, later
}

// mark records s's request of run: a steal marks its leaves stolen, a
// fresh claim makes s their owner under one runClaim; t.mu is held.
func (t *transfer) mark(run []int, s *source, steal bool) *request {
	s.active++
	r := &request{s: s, run: run}
	r.ctx, r.cancel = context.WithCancel(s.ctx)
	t.reqs = append(t.reqs, r)
	var c *runClaim
	if !steal {
		c = &runClaim{at: time.Now()}
		r.got = &c.got
	}
	for _, i := range run {
		t.inflight[i]++
		if steal {
			t.stolen[i] = true
			continue
		}
		t.owner[i], t.claims[i] = s, c
		c.total += int64(t.leaves[i].size)
	}
	return r
}

// supersede cancels every other request whose leaves have all been
// delivered now that by delivered leaf i: the slower copy of a stolen run
// stops loading its provider's link (often a busy supernode's) and this
// node's as soon as the faster copy is in, not when its run or the whole
// fetch ends. t.mu is held.
func (t *transfer) supersede(i int, by *request) {
	for _, o := range t.reqs {
		if o != by && !o.superseded && slices.Contains(o.run, i) && t.allDelivered(o.run) {
			o.superseded = true
			o.cancel()
		}
	}
}

// allDelivered reports whether every leaf of run is delivered or written;
// t.mu is held.
func (t *transfer) allDelivered(run []int) bool {
	for _, j := range run {
		if j >= t.next && t.data[j] == nil {
			return false
		}
	}
	return true
}

// wakeAtLatest has the waiting claims looked at again by at (when a run
// may have become ripe); t.mu is held.
func (t *transfer) wakeAtLatest(at time.Time) {
	if t.wake != nil && !t.wakeAt.After(at) {
		return
	}
	if t.wake != nil {
		t.wake.Stop()
	}
	t.wakeAt = at
	t.wake = time.AfterFunc(time.Until(at), func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.wake = nil
		t.cond.Broadcast()
	})
}

// release ends r's claim on its leaves; undelivered ones become
// claimable again once no request covers them. It reports whether r was
// superseded (its error, if any, is then the cancellation's).
func (t *transfer) release(r *request) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	r.cancel()
	t.reqs = slices.DeleteFunc(t.reqs, func(o *request) bool { return o == r })
	r.s.active--
	for _, i := range r.run {
		if t.inflight[i]--; t.inflight[i] == 0 {
			t.owner[i], t.stolen[i], t.claims[i] = nil, false, nil
		}
	}
	t.cond.Broadcast()
	return r.superseded
}

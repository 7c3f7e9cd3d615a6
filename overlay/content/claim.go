package content

import "time"

// Claiming work: fresh runs first, then, for an idle provider, a run
// another has had in flight for pace.stealAfter (work stealing).

// claim returns the next run of leaves for s to request, waiting while
// there is none; nil means s should stop.
func (t *transfer) claim(s *source) []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.stopped != nil || s.err != nil || t.next >= len(t.leaves) {
			return nil
		}
		hi := min(len(t.leaves), t.next+ReorderWindow)
		if run := t.freshRun(hi); run != nil {
			t.mark(run, s, false)
			return run
		}
		// Steal only when none of s's own requests is running: on a capped
		// link a duplicate would slow s's own work as much as it helps.
		run, later := t.stealRun(s, hi, time.Now())
		if run != nil && s.active == 0 {
			t.mark(run, s, true)
			return run
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

// stealRun finds the first run another single provider has had in
// flight for StealAfter at now; if there is none, later is when the
// first younger one will have been (zero if none).
func (t *transfer) stealRun(s *source, hi int, now time.Time) (run []int, later time.Time) {
	var victim *source
	for i := t.next; i < hi && len(run) < t.span; i++ {
		ok := t.data[i] == nil && t.inflight[i] > 0 && !t.stolen[i] && t.owner[i] != s
		if ripe := t.claimed[i].Add(t.pace.stealAfter); ok && ripe.After(now) {
			if later.IsZero() || ripe.Before(later) {
				later = ripe
			}
			ok = false
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

func (t *transfer) mark(run []int, s *source, steal bool) {
	s.active++
	now := time.Now()
	for _, i := range run {
		t.inflight[i]++
		if steal {
			t.stolen[i] = true
		} else {
			t.owner[i], t.claimed[i] = s, now
		}
	}
}

// wakeAtLatest has the waiting claims looked at again by at (when a run
// becomes old enough to steal); t.mu is held.
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

// release ends a request's claim on its leaves; undelivered ones become
// claimable again once no request covers them.
func (t *transfer) release(s *source, run []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.active--
	for _, i := range run {
		if t.inflight[i]--; t.inflight[i] == 0 {
			t.owner[i], t.stolen[i] = nil, false
		}
	}
	t.cond.Broadcast()
}

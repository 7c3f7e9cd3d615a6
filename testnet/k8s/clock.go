package k8s

import (
	"time"

	"github.com/patchnet/patchnet/node"
)

// Across machines the nodes' clocks differ (NTP keeps them milliseconds
// apart at best, seconds on a cluster without it), and every delivery
// time collect reports is a node's event minus the publication, which
// another node's event or the collector's clock gives: a node whose clock
// runs ahead would look slow. Fetch measures each node's offset as NTP
// does, from its status's Now and the request's round trip, and puts the
// node's times on the collector's clock.

// clockOffset is the node's clock minus the collector's, from a status
// whose Now the node took between sent and answered (the collector's
// clock): Now less the round trip's midpoint. It is zero when within
// half the round trip, the measurement's own error: on one machine (netns)
// the clocks are one, and no time is moved by noise.
func clockOffset(sent, answered, now time.Time) time.Duration {
	half := answered.Sub(sent) / 2
	off := now.Sub(sent.Add(half))
	if off.Abs() <= half {
		return 0
	}
	return off
}

// alignClock moves the node's own times in r by its ClockOffset onto the
// collector's clock: its status's Now, events and updates, and its
// journal's steps (a CRL's times are its issuer's and stay; a cut pod's
// stamps, read later, are alignCut's).
func (r *NodeReport) alignClock() {
	d := -r.ClockOffset
	if d == 0 {
		return
	}
	st := r.Status
	st.Now = moved(st.Now, d)
	for i := range st.Events {
		e := &st.Events[i]
		e.At, e.Received = moved(e.At, d), moved(e.Received, d)
	}
	for i := range st.Updates {
		u := &st.Updates[i]
		u.NotBefore, u.Updated = moved(u.NotBefore, d), moved(u.Updated, d)
	}
	for _, tx := range r.History {
		for i := range tx.Steps {
			tx.Steps[i].At = moved(tx.Steps[i].At, d)
		}
	}
}

// alignCut moves a cut pod's stamps, read after its status, as
// alignClock moved the rest.
func (r *NodeReport) alignCut(c CutState) CutState {
	d := -r.ClockOffset
	return CutState{CutAt: moved(c.CutAt, d), HealedAt: moved(c.HealedAt, d)}
}

// moved is t+d, and the zero time (did not happen) stays zero.
func moved(t time.Time, d time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(d)
}

// statusTimed reads a node's status with read and measures its clock's
// offset around the read.
func statusTimed(read func() (*node.APIStatus, error)) (*node.APIStatus, time.Duration, error) {
	sent := time.Now()
	st, err := read()
	if err != nil {
		return nil, 0, err
	}
	return st, clockOffset(sent, time.Now(), st.Now), nil
}

// originClock is a raw peer's estimate of the origin's clock: the offset
// (the origin's minus this pod's) from the exchange whose round trip was
// the shortest.
type originClock struct {
	offset, rtt time.Duration
	sampled     bool
}

// sample takes one exchange sent and answered on this pod's clock, at
// now on the origin's; it reports whether the estimate changed.
func (c *originClock) sample(sent, answered, now time.Time) bool {
	if now.IsZero() {
		return false // an origin that does not say its time
	}
	rtt := answered.Sub(sent)
	if c.sampled && rtt >= c.rtt {
		return false
	}
	off := clockOffset(sent, answered, now)
	changed := !c.sampled || off != c.offset
	c.offset, c.rtt, c.sampled = off, rtt, true
	return changed
}

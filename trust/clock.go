package trust

import "time"

// Clock is where the verifier reads the time: certificate validity, CRL
// freshness and cache expiry all use it, so tests drive time explicitly
// (trusttest.FakeClock) instead of sleeping.
type Clock interface{ Now() time.Time }

// SystemClock is the real wall clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Package duration holds Duration, a time.Duration written as Go duration
// text ("90s", "6h30m") in JSON and TOML: announcements (updates), the
// overlay's and the node's configuration files all use it. It stands apart
// so that none of those packages imports another only for it.
package duration

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written as Go duration text in JSON and TOML.
type Duration time.Duration

// String is Go duration text, so errors and logs show "10s", not nanoseconds.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses Go duration text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", clip(string(b)), err)
	}
	*d = Duration(v)
	return nil
}

// clip shortens text quoted in an error to MaxQuotedBytes.
func clip(s string) string {
	if len(s) <= MaxQuotedBytes {
		return s
	}
	return s[:MaxQuotedBytes] + "…"
}

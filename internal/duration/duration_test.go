package duration_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/patchnet/patchnet/internal/duration"
)

type holder struct {
	D duration.Duration `json:"d" toml:"d"`
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		text    string
		want    time.Duration
		wantErr string
	}{
		{"10s", 10 * time.Second, ""},
		{"6h30m", 6*time.Hour + 30*time.Minute, ""},
		{"1.5s", 1500 * time.Millisecond, ""},
		{"-2m", -2 * time.Minute, ""},
		{"10", 0, `duration "10": time: missing unit`},
		{"ten seconds", 0, `duration "ten seconds"`},
		{strings.Repeat("x", 200), 0, `duration "` + strings.Repeat("x", duration.MaxQuotedBytes) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			var fromJSON, fromTOML holder
			jerr := json.Unmarshal([]byte(`{"d": "`+tt.text+`"}`), &fromJSON)
			terr := toml.Unmarshal([]byte(`d = "`+tt.text+`"`), &fromTOML)
			for format, c := range map[string]struct {
				err error
				got duration.Duration
			}{"JSON": {jerr, fromJSON.D}, "TOML": {terr, fromTOML.D}} {
				if tt.wantErr != "" {
					if c.err == nil || !strings.Contains(c.err.Error(), tt.wantErr) {
						t.Errorf("%s: error %v, want one containing %q", format, c.err, tt.wantErr)
					}
					continue
				}
				if c.err != nil || time.Duration(c.got) != tt.want {
					t.Errorf("%s: %v, %v; want %v", format, c.got, c.err, tt.want)
				}
			}
			if tt.wantErr != "" {
				return
			}
			// Written back as the same text.
			out, err := toml.Marshal(holder{D: duration.Duration(tt.want)})
			if err != nil || strings.TrimSpace(string(out)) != `d = '`+tt.want.String()+`'` {
				t.Errorf("TOML of %v: %s, %v", tt.want, out, err)
			}
			if j, err := json.Marshal(holder{D: duration.Duration(tt.want)}); err != nil || string(j) != `{"d":"`+tt.want.String()+`"}` {
				t.Errorf("JSON of %v: %s, %v", tt.want, j, err)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	if s := duration.Duration(90 * time.Second).String(); s != "1m30s" {
		t.Errorf("String() = %q, want 1m30s", s)
	}
}

// TestSleep: Sleep waits its duration (in the bubble's virtual time), and
// returns the context's error at once when the context ends first.
func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := duration.Sleep(t.Context(), time.Minute); err != nil || time.Since(start) != time.Minute {
			t.Fatalf("slept %v: %v, want a minute", time.Since(start), err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := duration.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Minute+time.Second {
			t.Fatalf("sleep cut short: %v after %v", err, time.Since(start))
		}
		cancel()
		if err := duration.Sleep(ctx, 0); err == nil {
			t.Fatal("a zero sleep on an ended context returned no error")
		}
	})
}

package updates

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is a weekly maintenance window: the days it opens on and the
// minutes of the day it spans. End < Start crosses midnight (it opens on a
// listed day and closes the next morning).
type Window struct {
	Days       [7]bool // indexed by time.Weekday
	Start, End int     // minutes since midnight; End may be 1440
	text       string
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow reads "DAYS HH:MM-HH:MM": DAYS is "daily", a day ("Sat"), a
// range ("Mon-Fri", wrapping allowed: "Fri-Mon") or a comma list of either.
func ParseWindow(s string) (Window, error) {
	w := Window{text: s}
	days, span, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return w, fmt.Errorf("window %q: want \"DAYS HH:MM-HH:MM\", e.g. \"Sat 02:00-04:00\"", clip(s))
	}
	if err := w.parseDays(days); err != nil {
		return w, fmt.Errorf("window %q: %w", clip(s), err)
	}
	from, to, ok := strings.Cut(strings.TrimSpace(span), "-")
	var err1, err2 error
	w.Start, err1 = parseClock(from, false)
	w.End, err2 = parseClock(to, true)
	if !ok || err1 != nil || err2 != nil {
		return w, fmt.Errorf("window %q: times %q: want HH:MM-HH:MM (00:00..24:00)", clip(s), clip(span))
	}
	if w.Start == w.End {
		return w, fmt.Errorf("window %q: empty (start equals end)", clip(s))
	}
	return w, nil
}

func (w *Window) parseDays(s string) error {
	if strings.EqualFold(s, "daily") {
		w.Days = [7]bool{true, true, true, true, true, true, true}
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, ok1 := dayNames[strings.ToLower(a)]
		to, ok2 := from, true
		if isRange {
			to, ok2 = dayNames[strings.ToLower(b)]
		}
		if !ok1 || !ok2 {
			return fmt.Errorf("days %q: want daily, Mon..Sun, a range Mon-Fri or a list Sat,Sun", clip(s))
		}
		for d := from; ; d = (d + 1) % 7 {
			w.Days[d] = true
			if d == to {
				break
			}
		}
	}
	return nil
}

// parseClock reads HH:MM; "24:00" only as an end.
func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || mm > 59 || hh > 24 || hh == 24 && (mm != 0 || !end) {
		return 0, fmt.Errorf("clock %q", s)
	}
	return hh*60 + mm, nil
}

// String is the text the window was parsed from.
func (w Window) String() string { return w.text }

// Contains reports whether t (in the window's location) is inside w.
func (w Window) Contains(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	wd := t.Weekday()
	if w.Start < w.End {
		return w.Days[wd] && m >= w.Start && m < w.End
	}
	return w.Days[wd] && m >= w.Start || w.Days[(wd+6)%7] && m < w.End
}

// Next returns the next opening of w strictly after or at t, in t's
// location (a week ahead at most).
func (w Window) Next(t time.Time) time.Time {
	y, mo, d := t.Date()
	for off := 0; off <= 7; off++ {
		day := time.Date(y, mo, d+off, 0, 0, 0, 0, t.Location())
		if !w.Days[day.Weekday()] {
			continue
		}
		start := time.Date(y, mo, d+off, w.Start/60, w.Start%60, 0, 0, t.Location())
		if !start.Before(t) {
			return start
		}
	}
	return t.Add(7 * 24 * time.Hour) // unreachable for a window with a day
}

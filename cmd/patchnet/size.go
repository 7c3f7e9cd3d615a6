package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteUnits are the units size and rate flags accept, lowercased: SI and
// IEC bytes, and bits, as link speeds are sold ("10Mbit" is tc's spelling).
var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
	"bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8,
}

// byteUnitNames lists byteUnits for error messages, in their usual case.
const byteUnitNames = "B, kB, MB, GB, KiB, MiB, GiB, bit, kbit, Mbit, Gbit"

// maxFlagBytes bounds a size or rate flag, far above any real one, so the
// conversion to int64 cannot overflow.
const maxFlagBytes = 1 << 50

// parseBytes reads flag's value s, a number and a unit ("1MiB", "1.5 MB",
// "10Mbit", "4096"), as bytes; a rate may end in "/s" ("10Mbit/s" is
// 1,250,000 bytes per second). Units are case-insensitive.
func parseBytes(flag, s string, rate bool) (int64, error) {
	v := strings.TrimSpace(s)
	if rate {
		v = strings.TrimSuffix(v, "/s")
	}
	i := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(v)
	}
	num, unit := v[:i], strings.TrimSpace(v[i:])
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: want a number and a unit, such as 1MiB or 10Mbit", flag, s)
	}
	mult, ok := byteUnits[strings.ToLower(unit)]
	if !ok {
		per := ""
		if rate {
			per = ", optionally followed by /s"
		}
		return 0, fmt.Errorf("--%s %q: unit %q unknown; want one of %s%s", flag, s, unit, byteUnitNames, per)
	}
	b := math.Round(n * mult)
	if b > maxFlagBytes {
		return 0, fmt.Errorf("--%s %q: more than %d bytes", flag, s, int64(maxFlagBytes))
	}
	return int64(b), nil
}

// parseShare reads flag's value s, a share as a percentage ("1%", "0.5 %")
// or a fraction ("0.01"), as a fraction.
func parseShare(flag, s string) (float64, error) {
	v := strings.TrimSpace(s)
	pct := strings.HasSuffix(v, "%")
	n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
	if err != nil || math.IsNaN(n) || n < 0 {
		return 0, fmt.Errorf("--%s %q: want a percentage or a fraction, such as 1%% or 0.01", flag, s)
	}
	if pct {
		n /= 100
	}
	return n, nil
}

package main

import (
	"strings"
	"testing"
)

func TestParseShare(t *testing.T) {
	for in, want := range map[string]float64{"0": 0, "1%": 0.01, "0.5 %": 0.005, "0.02": 0.02, "50%": 0.5} {
		if got, err := parseShare("loss", in); err != nil || got != want {
			t.Errorf("parseShare(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%", "-1%", "one percent", "NaN"} {
		if _, err := parseShare("loss", in); err == nil || !strings.Contains(err.Error(), "--loss") {
			t.Errorf("parseShare(%q): %v, want an error naming --loss", in, err)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		rate bool
		want int64
	}{
		{"0", true, 0},
		{"4096", false, 4096},
		{"1MiB", false, 1 << 20},
		{"1.5 KiB", false, 1536},
		{"2mb", false, 2_000_000},
		{"10Mbit", true, 1_250_000},
		{"10Mbit/s", true, 1_250_000},
		{"1MiB/s", true, 1 << 20},
		{"1gbit", true, 125_000_000},
		{"100kbit", true, 12_500},
	} {
		got, err := parseBytes("size", tc.in, tc.rate)
		if err != nil || got != tc.want {
			t.Errorf("parseBytes(%q, rate %v) = %d, %v; want %d", tc.in, tc.rate, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		rate bool
		want string
	}{
		{"10Mbps", true, `unit "Mbps" unknown`},
		{"1MiB/s", false, `unit "MiB/s" unknown`},
		{"MiB", false, "want a number"},
		{"-1MiB", false, "want a number"},
		{"", false, "want a number"},
		{"1.2.3kB", false, "want a number"},
		{"9999999GiB", false, "more than"},
	} {
		_, err := parseBytes("size", tc.in, tc.rate)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--size ") {
			t.Errorf("parseBytes(%q): error %v, want one naming --size and %q", tc.in, err, tc.want)
		}
	}
}

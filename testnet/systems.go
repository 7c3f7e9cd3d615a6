package testnet

import (
	"cmp"
	"maps"
	"slices"
)

// systemLabels name the systems of Report.Results for people, in tables
// and plot legends.
var systemLabels = map[string]string{
	ResultPatchnet:     "patchnet",
	ResultRawGossipsub: "raw gossipsub",
	ResultHTTPOrigin:   "HTTP from origin",
}

// systemRank puts patchnet first and its baselines after it, from the
// closest (same gossip, no checks) to the farthest (no peers at all).
var systemRank = map[string]int{ResultPatchnet: 1, ResultRawGossipsub: 2, ResultHTTPOrigin: 3}

// SystemLabel is how tables and plots name the system keyed key; a key
// this version does not know is shown as it is.
func SystemLabel(key string) string {
	if l, ok := systemLabels[key]; ok {
		return l
	}
	return key
}

// systemOrder sorts the keys of a per-system map: known systems in
// systemRank's order, then the others by name.
func systemOrder[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		ra, rb := systemRank[a], systemRank[b]
		if ra == 0 {
			ra = len(systemRank) + 1
		}
		if rb == 0 {
			rb = len(systemRank) + 1
		}
		return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(a, b))
	})
}

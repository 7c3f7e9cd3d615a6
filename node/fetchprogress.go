package node

import (
	"cmp"
	"encoding/hex"
	"maps"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay/content"
)

// APIFetch is an artifact fetch in progress: what `patchnet status` shows as
// "fetching x/y bytes from …".
type APIFetch struct {
	SHA256 string `json:"sha256"`
	Done   int64  `json:"done"`
	Total  int64  `json:"total"`
	Source string `json:"source"` // "peers" or "vendor", the latest bytes' source
	// Peers are the providers that delivered bytes so far, most first.
	Peers []string `json:"peers,omitempty"`
}

// fetchProgress holds the latest progress of each fetch in flight, by the
// artifact's SHA-256.
type fetchProgress struct {
	mu sync.Mutex
	m  map[string]APIFetch
}

// track returns the progress callback of the fetch of sha and a function
// that forgets it once the fetch returns.
func (f *fetchProgress) track(sha [32]byte) (func(content.Progress), func()) {
	key := hex.EncodeToString(sha[:])
	update := func(p content.Progress) {
		af := APIFetch{SHA256: key, Done: p.Done, Total: p.Total, Source: string(p.Source)}
		ids := slices.Collect(maps.Keys(p.PerProvider))
		slices.SortFunc(ids, func(a, b peer.ID) int { return cmp.Compare(p.PerProvider[b], p.PerProvider[a]) })
		for _, id := range ids {
			if p.PerProvider[id] > 0 {
				af.Peers = append(af.Peers, id.String())
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.m == nil {
			f.m = map[string]APIFetch{}
		}
		f.m[key] = af
	}
	done := func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.m, key)
	}
	return update, done
}

// list returns the fetches in flight, sorted by artifact.
func (f *fetchProgress) list() []APIFetch {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]APIFetch, 0, len(f.m))
	for _, af := range f.m {
		out = append(out, af)
	}
	slices.SortFunc(out, func(a, b APIFetch) int { return cmp.Compare(a.SHA256, b.SHA256) })
	return out
}

package node

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay/content"
)

// A fetch's latest progress is listed while it runs, providers most
// bytes first and those that gave nothing left out, and is gone once the
// fetch returns.
func TestFetchProgressListsFetchesInFlight(t *testing.T) {
	var f fetchProgress
	update, done := f.track([32]byte{0xab})
	update(content.Progress{Done: 10, Total: 100, Source: content.SourcePeers,
		PerProvider: map[peer.ID]int64{"a": 3, "b": 7, "c": 0}})
	update(content.Progress{Done: 40, Total: 100, Source: content.SourcePeers,
		PerProvider: map[peer.ID]int64{"a": 30, "b": 10, "c": 0}})
	want := []APIFetch{{SHA256: "ab" + strings.Repeat("00", 31),
		Done: 40, Total: 100, Source: "peers", Peers: []string{peer.ID("a").String(), peer.ID("b").String()}}}
	if d := cmp.Diff(want, f.list()); d != "" {
		t.Fatalf("in flight (-want +got):\n%s", d)
	}
	done()
	if got := f.list(); len(got) != 0 {
		t.Fatalf("after the fetch returned: %+v", got)
	}
}

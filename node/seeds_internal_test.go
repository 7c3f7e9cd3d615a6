package node

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay/content"
)

// drain is what ch holds now.
func drain(ch <-chan peer.ID) []peer.ID {
	var out []peer.ID
	for {
		select {
		case p := <-ch:
			out = append(out, p)
		default:
			return out
		}
	}
}

// Co-signers heard for an artifact are its fetch's seeds: those heard
// before the fetch starts through seedsFor, those heard while it runs on
// its channel, each once, at most content.MaxSeeds of them, and nothing
// after the fetch stopped watching. Another artifact's co-signers stay
// apart.
func TestCoSignersBecomeSeeds(t *testing.T) {
	var c coSigners
	sha, other := [32]byte{1}, [32]byte{2}
	c.heard(sha, []peer.ID{"a", "b"})
	if diff := cmp.Diff([]peer.ID{"a", "b"}, c.seedsFor(sha)); diff != "" {
		t.Errorf("seeds before the fetch (-want +got):\n%s", diff)
	}
	late, stop := c.watch(sha)
	c.heard(sha, []peer.ID{"b", "c", ""})
	c.heard(other, []peer.ID{"x"})
	if diff := cmp.Diff([]peer.ID{"c"}, drain(late)); diff != "" {
		t.Errorf("seeds heard while fetching (-want +got):\n%s", diff)
	}
	var many []peer.ID
	for i := range 2 * content.MaxSeeds {
		many = append(many, peer.ID(rune('d'+i)))
	}
	c.heard(sha, many)
	if got := len(c.seedsFor(sha)); got != content.MaxSeeds {
		t.Errorf("%d seeds kept, want content.MaxSeeds (%d)", got, content.MaxSeeds)
	}
	if got := len(drain(late)); got != content.MaxSeeds-3 {
		t.Errorf("%d more seeds handed to the fetch, want %d", got, content.MaxSeeds-3)
	}
	stop()
	c.heard(other, []peer.ID{"y"})
	if len(c.late) != 0 {
		t.Errorf("%d artifacts still watched after the fetch stopped", len(c.late))
	}
	if diff := cmp.Diff([]peer.ID{"x", "y"}, c.seedsFor(other)); diff != "" {
		t.Errorf("the other artifact's seeds (-want +got):\n%s", diff)
	}
}

// Past MaxSeedArtifacts artifacts the oldest one's co-signers are
// forgotten first.
func TestCoSignersBounded(t *testing.T) {
	var c coSigners
	for i := range MaxSeedArtifacts + 1 {
		c.heard([32]byte{byte(i), byte(i >> 8)}, []peer.ID{"a"})
	}
	if len(c.known) != MaxSeedArtifacts {
		t.Errorf("%d artifacts remembered, want MaxSeedArtifacts (%d)", len(c.known), MaxSeedArtifacts)
	}
	if got := c.seedsFor([32]byte{0}); got != nil {
		t.Errorf("the oldest artifact's seeds %v kept", got)
	}
}

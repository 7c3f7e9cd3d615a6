package node

import (
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay/content"
)

// coSigners remembers, by artifact SHA-256, the supernodes heard
// co-signing an announcement of that artifact, for the fetch to use as
// seeds: every co-signer fetched the artifact from the vendor and seeded
// it before co-signing. An agent accepts at k co-signatures and hears the
// others after (most of a zone's agents used two of three supernodes and
// left the third's uplink idle), so a fetch takes those heard before it
// starts (seedsFor) and is handed those heard while it runs (watch).
// Seeds grant no trust: every block is still checked.
type coSigners struct {
	mu    sync.Mutex
	known map[[32]byte][]peer.ID
	order [][32]byte // oldest first, forgotten past MaxSeedArtifacts
	late  map[[32]byte][]chan peer.ID
}

// heard records ids as co-signers of the artifact sha and hands the new
// ones to its running fetches. It never blocks: a fetch whose channel is
// full has MaxSeeds seeds already.
func (c *coSigners) heard(sha [32]byte, ids []peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	if _, ok := c.known[sha]; !ok {
		c.remember(sha)
	}
	for _, id := range ids {
		if id == "" || slices.Contains(c.known[sha], id) || len(c.known[sha]) >= content.MaxSeeds {
			continue
		}
		c.known[sha] = append(c.known[sha], id)
		for _, ch := range c.late[sha] {
			select {
			case ch <- id:
			default:
			}
		}
	}
}

// init makes the maps of a zero coSigners; c.mu held.
func (c *coSigners) init() {
	if c.known == nil {
		c.known, c.late = map[[32]byte][]peer.ID{}, map[[32]byte][]chan peer.ID{}
	}
}

// remember starts a set for sha, forgetting the oldest past
// MaxSeedArtifacts; c.mu held.
func (c *coSigners) remember(sha [32]byte) {
	if len(c.order) == MaxSeedArtifacts {
		delete(c.known, c.order[0])
		c.order = c.order[1:]
	}
	c.order = append(c.order, sha)
	c.known[sha] = nil
}

// seedsFor are the co-signers heard for sha so far.
func (c *coSigners) seedsFor(sha [32]byte) []peer.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.known[sha])
}

// watch returns the channel on which co-signers of sha heard from now on
// arrive, and the function that stops it once the fetch returns.
func (c *coSigners) watch(sha [32]byte) (<-chan peer.ID, func()) {
	ch := make(chan peer.ID, content.MaxSeeds)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	c.late[sha] = append(c.late[sha], ch)
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.late[sha] = slices.DeleteFunc(c.late[sha], func(x chan peer.ID) bool { return x == ch })
		if len(c.late[sha]) == 0 {
			delete(c.late, sha)
		}
	}
}

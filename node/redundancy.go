package node

import (
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// peerBudget budgets, per sending peer, something honest peers do rarely:
// each peer has a token bucket (refilled at a rate, up to a burst), and
// one that exhausts its own is refused until it refills, without costing
// any other peer. The LRU bounds the peers tracked; a peer evicted starts
// again with a full bucket, which gives it nothing it could not have had
// by waiting.
type peerBudget struct {
	peers *lru.Cache[peer.ID, *rate.Limiter]
	rate  rate.Limit
	burst int
}

func newPeerBudget(r rate.Limit, burst, peers int) *peerBudget {
	c, _ := lru.New[peer.ID, *rate.Limiter](peers) // size > 0: never fails
	return &peerBudget{peers: c, rate: r, burst: burst}
}

// allow spends one of p's tokens and reports whether p had one.
func (b *peerBudget) allow(p peer.ID) bool {
	l, ok := b.peers.Get(p)
	if !ok {
		l = rate.NewLimiter(b.rate, b.burst)
		b.peers.Add(p, l)
	}
	return l.Allow()
}

// newRedundancy budgets the gossip messages that add nothing to what this
// node holds. Honest gossip sends a few such copies per announcement (a
// relay forwarding a subset of the signatures already merged); a peer
// re-encoding one envelope endlessly exhausts its budget and is rejected
// from then on, until the budget refills.
func newRedundancy() *peerBudget { return newPeerBudget(RedundantRate, RedundantBurst, RedundantPeers) }

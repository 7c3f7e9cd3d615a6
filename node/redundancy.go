package node

import (
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// redundancy budgets, per sending peer, the gossip messages that add
// nothing to what this node holds. Honest gossip sends a few such copies
// per announcement (a relay forwarding a subset of the signatures already
// merged); a peer re-encoding one envelope endlessly exhausts its budget
// and is rejected from then on, until the budget refills.
type redundancy struct {
	peers *lru.Cache[peer.ID, *rate.Limiter]
}

func newRedundancy() *redundancy {
	c, _ := lru.New[peer.ID, *rate.Limiter](RedundantPeers) // size > 0: never fails
	return &redundancy{peers: c}
}

// allow spends one of p's redundant messages and reports whether p had one.
func (r *redundancy) allow(p peer.ID) bool {
	l, ok := r.peers.Get(p)
	if !ok {
		l = rate.NewLimiter(RedundantRate, RedundantBurst)
		r.peers.Add(p, l)
	}
	return l.Allow()
}

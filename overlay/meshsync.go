package overlay

import (
	"log/slog"

	"github.com/libp2p/go-libp2p/core/peer"
)

// meshFormed runs one catch-up from p when this node's mesh on the announce
// topic forms (goes from empty to p), once per episode (start-up, and each
// isolation). The episode's own catch-up ran when the first peers were
// admitted, which can be seconds before the mesh forms on a loaded host;
// an announcement published in between reaches this node by neither (its
// peers' gossip advertises only the last few heartbeats' messages) and
// would wait for the supernodes' next heartbeat or the periodic catch-up,
// minutes. From the mesh on, gossip delivers. A failed catch-up lets the
// next mesh formation try again.
func (s *syncer) meshFormed(p peer.ID) {
	if s.ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	start := s.ready && s.meshGen != s.gen+1
	if start {
		s.meshGen = s.gen + 1
	}
	gen := s.gen
	s.mu.Unlock()
	if !start {
		return
	}
	s.catchUpAsync(p, func(res SyncResult, err error) {
		if err != nil {
			s.mu.Lock()
			if s.meshGen == gen+1 {
				s.meshGen = 0
			}
			s.mu.Unlock()
		}
		s.logCatchUp("caught up on joining the mesh", "catch-up on joining the mesh failed", p, res, err, slog.LevelDebug)
	})
}

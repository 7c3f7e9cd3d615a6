package node

import (
	"time"

	"github.com/patchnet/patchnet/updates"
)

// APIPending is a verified announcement an agent holds short of k
// co-signatures: what `patchnet status` shows as "pending k/n".
type APIPending struct {
	ID        string         `json:"id"`
	Version   uint64         `json:"version"`
	Digest    updates.Digest `json:"digest"`
	CoSigners int            `json:"co_signers"` // distinct supernodes counted so far
	Threshold int            `json:"threshold"`  // k
}

// APIHeartbeat is what an agent heard of the zone's heartbeats: the newest
// one, its age on the node's clock, how many supernodes' heartbeats it
// holds, and whether the stale alarm is up (the k-th freshest is older than
// heartbeat.max_age).
type APIHeartbeat struct {
	Newest     time.Time `json:"newest"`
	AgeSeconds float64   `json:"age_s"`
	Supernodes int       `json:"supernodes"`
	MaxAge     string    `json:"max_age"`
	Stale      bool      `json:"stale"`
}

// apiPending lists the buffered payloads that have no lifecycle record yet
// (not accepted) with their co-signer count.
func (n *Node) apiPending(recs []UpdateRecord) []APIPending {
	if n.agent == nil {
		return nil
	}
	accepted := map[updates.Digest]bool{}
	for _, r := range recs {
		accepted[r.Digest] = true
	}
	out := []APIPending{}
	for _, v := range n.merge.all() {
		acc := v.Accepted
		if acc == nil || acc.Announcement == nil || accepted[acc.Digest] {
			continue
		}
		out = append(out, APIPending{ID: acc.Announcement.ID, Version: acc.Announcement.Patchnet.Version,
			Digest: acc.Digest, CoSigners: len(acc.Supernodes), Threshold: n.cfg.Threshold})
	}
	return out
}

// apiHeartbeat summarises the heartbeats an agent holds; nil on nodes
// that do not watch them or before the first one.
func (n *Node) apiHeartbeat(now time.Time) *APIHeartbeat {
	if n.agent == nil {
		return nil
	}
	beats := n.Heartbeats()
	if len(beats) == 0 {
		return &APIHeartbeat{MaxAge: n.heartbeatMaxAge().String(), Stale: n.Status().heartbeatStale()}
	}
	return &APIHeartbeat{Newest: beats[0].Time, AgeSeconds: now.Sub(beats[0].Time).Seconds(), Supernodes: len(beats),
		MaxAge: n.heartbeatMaxAge().String(), Stale: n.Status().heartbeatStale()}
}

// heartbeatStale reports whether the newest heartbeat event is the stale
// alarm (no OK since).
func (s Status) heartbeatStale() bool {
	st, ok := s.Last(EventHeartbeatStale)
	if !ok {
		return false
	}
	okEv, ok := s.Last(EventHeartbeatOK)
	return !ok || okEv.At.Before(st.At)
}

package overlay

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
)

// Peer scoring, as gossipsub v1.1 defines it, tuned for a zone where
// messages are rare (announcements, heartbeats) and every one is signed:
//
//   - P4, invalid messages: the one signal that matters. A message the node's
//     validator rejects (forged or malformed) costs its deliverer
//     InvalidMessageWeight × count² per topic, decaying over an hour. With
//     the defaults one forgery (-10) stops gossip exchange with the peer, two
//     (-40) stop publishing to it, three (-90) graylist it: its RPCs are
//     ignored until the penalty decays.
//   - P1/P2, time in mesh and first deliveries: small positive rewards, capped
//     (TopicScoreCap) so good behaviour cannot bank credit against forgeries.
//   - P3/P3b, mesh delivery deficits: off. They punish peers for not
//     relaying "enough" messages, which on quiet topics hits honest peers.
//   - P5, application score: +1 for a peer that passed the admission
//     exchange, so verified peers are preferred for opportunistic grafting;
//     a verified supernode or publisher of the zone gets the peer-exchange
//     threshold, so its prune's peer exchange is followed (below).
//
// Peer exchange (PX): a supernode is what a zone's agents bootstrap off, so
// its mesh is oversubscribed from the start; when it prunes an agent it
// names up to 16 other peers on the topic (signed peer records), and the
// agent dials them: agents find each other in one round trip instead of
// through DHT walks. Only supernodes send PX and only PX from the zone's
// verified signers is followed: an eclipse through PX would need a zone
// certificate, and even then costs only connections — every message is
// still verified.
//   - P6, IP colocation: off. An organisation's hosts share one NAT address;
//     penalising them would cut whole sites out of the zone.
//   - P7, behaviour penalty: gossipsub's protocol violations (broken IWANT
//     promises, early re-grafts), mildly negative.

const (
	scoreDecayInterval     = time.Second
	scoreDecayToZero       = 0.01
	scoreRetain            = 10 * time.Minute
	scoreTopicCap          = 20
	scoreAcceptPXThreshold = 10
	scoreOpportunisticMin  = 0.5
	verifiedPeerScore      = 1
)

// appScore is P5 for a peer's admission record: 0 unless verified, the
// peer-exchange threshold for a supernode or publisher of zone.
func appScore(info PeerInfo, ok bool, zone string) float64 {
	switch {
	case !ok || !info.Verified:
		return 0
	case info.Identity.Zone == zone && (info.Identity.HasRole(trust.RoleSupernode) || info.Identity.HasRole(trust.RolePublisher)):
		return scoreAcceptPXThreshold
	default:
		return verifiedPeerScore
	}
}

// peerScoreParams builds the router's score parameters; topics holds the
// topics known at start (more are added as the node joins them), app is
// P5 (appScore of the peer's admission).
func peerScoreParams(cfg ScoreConfig, app func(peer.ID) float64, topics []string) *pubsub.PeerScoreParams {
	params := &pubsub.PeerScoreParams{
		Topics:                    map[string]*pubsub.TopicScoreParams{},
		TopicScoreCap:             scoreTopicCap,
		AppSpecificScore:          app,
		AppSpecificWeight:         1,
		IPColocationFactorWeight:  0,
		BehaviourPenaltyWeight:    -1,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:             scoreDecayInterval,
		DecayToZero:               scoreDecayToZero,
		RetainScore:               scoreRetain,
	}
	for _, t := range topics {
		params.Topics[t] = topicScoreParams(cfg)
	}
	return params
}

// topicScoreParams is the same for every topic: each carries signed data
// whose forgery is equally serious.
func topicScoreParams(cfg ScoreConfig) *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  300,
		FirstMessageDeliveriesWeight:   0.5,
		FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(time.Hour),
		FirstMessageDeliveriesCap:      20,
		InvalidMessageDeliveriesWeight: cfg.InvalidMessageWeight,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
	}
}

func peerScoreThresholds(cfg ScoreConfig) *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             cfg.GossipThreshold,
		PublishThreshold:            cfg.PublishThreshold,
		GraylistThreshold:           cfg.GraylistThreshold,
		AcceptPXThreshold:           scoreAcceptPXThreshold,
		OpportunisticGraftThreshold: scoreOpportunisticMin,
	}
}

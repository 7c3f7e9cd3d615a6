package overlay

import (
	"regexp"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// TopicPrefix starts every patchnet topic: /patchnet/<zone>/...
const TopicPrefix = "/patchnet/"

// AnnounceTopic carries a zone's announcements and their co-signatures.
func AnnounceTopic(zone string) string { return TopicPrefix + zone + "/announce" }

// CRLTopic carries the CRLs of a zone's CAs and roots: a topic of its own,
// so no message is told apart from another by sniffing its bytes.
func CRLTopic(zone string) string { return TopicPrefix + zone + "/crl" }

// HeartbeatTopic carries the zone's supernodes' signed heartbeats.
func HeartbeatTopic(zone string) string { return TopicPrefix + zone + "/heartbeat" }

// itemTopic is the topic a catch-up item of kind travels on; the kind is
// the serving peer's claim, so the validator of that topic still decides.
func itemTopic(zone string, k Kind) string {
	if k == KindCRL {
		return CRLTopic(zone)
	}
	return AnnounceTopic(zone)
}

// SupernodesTopic is where a zone's supernodes co-sign.
func SupernodesTopic(zone string) string { return TopicPrefix + zone + "/supernodes" }

// CollectiveTopic carries a collective's member state and opt-in reports.
func CollectiveTopic(zone, name string) string { return TopicPrefix + zone + "/collective/" + name }

// zoneTopicsRE matches exactly this zone's topics: announce, crl, heartbeat, supernodes and
// any well-formed collective (a node relays collectives it does not join).
func zoneTopicsRE(zone string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(TopicPrefix+zone) +
		`/(announce|crl|heartbeat|supernodes|collective/[a-z0-9][a-z0-9._-]{0,62})$`)
}

// newSubscriptionFilter admits only this zone's topics, locally and from
// peers, and caps the subscriptions one RPC may announce.
func newSubscriptionFilter(zone string) pubsub.SubscriptionFilter {
	return pubsub.WrapLimitSubscriptionFilter(pubsub.NewRegexpSubscriptionFilter(zoneTopicsRE(zone)), MaxTopicsPerRPC)
}

package sim

import (
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/patchnet/patchnet/overlay/content"
)

// egress counts the bytes a node sent on the artifact protocols (patchnet's
// content transfer, the HTTP-origin baseline's) as they are written: a
// libp2p metrics.Reporter that keeps two counters, where go-libp2p's
// BandwidthCounter keeps meters per peer and protocol updated once a
// second.
type egress struct{ content, origin atomic.Int64 }

var _ metrics.Reporter = (*egress)(nil)

// LogSentMessageStream counts n bytes sent on proto.
func (e *egress) LogSentMessageStream(n int64, proto protocol.ID, _ peer.ID) {
	switch proto {
	case content.ProtocolID:
		e.content.Add(n)
	case originProtocol:
		e.origin.Add(n)
	}
}

// The rest of metrics.Reporter: nothing else is counted.

func (*egress) LogSentMessage(int64)                                  {}
func (*egress) LogRecvMessage(int64)                                  {}
func (*egress) LogRecvMessageStream(int64, protocol.ID, peer.ID)      {}
func (*egress) GetBandwidthForPeer(peer.ID) metrics.Stats             { return metrics.Stats{} }
func (*egress) GetBandwidthForProtocol(protocol.ID) metrics.Stats     { return metrics.Stats{} }
func (*egress) GetBandwidthTotals() metrics.Stats                     { return metrics.Stats{} }
func (*egress) GetBandwidthByPeer() map[peer.ID]metrics.Stats         { return nil }
func (*egress) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats { return nil }
func (*egress) Reset()                                                {}
func (*egress) TrimIdle(time.Time)                                    {}

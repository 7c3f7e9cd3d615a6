package overlay

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// newResourceManager scales go-libp2p's default limits (and its services'
// defaults: identify, ping, ...) to the memory and descriptors configured
// for this node, plus patchnet's own protocols: admission and catch-up are
// small and bounded, so each gets a modest stream budget rather than the
// default protocol limits. Loopback connections are exempt from the per-IP
// connection cap (go-libp2p's default), so tests on 127.0.0.1 are not
// throttled.
func newResourceManager(r ResourceConfig) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	limits.AddProtocolLimit(AuthProtocol,
		rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20})
	limits.AddProtocolLimit(SyncProtocol,
		rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 64 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 32 << 20})
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Scale(r.MaxMemory, r.MaxFileDescriptors)))
	if err != nil {
		return nil, fmt.Errorf("starting resource manager: %w", err)
	}
	return rm, nil
}

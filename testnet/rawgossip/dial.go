package rawgossip

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Retrying runs try up to attempts times, waiting wait before the second
// and twice as long before each one after (as a TCP client retransmits its
// SYN), until it succeeds or ctx ends; it returns try's last error.
func Retrying(ctx context.Context, attempts int, wait time.Duration, try func() error) error {
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (after %v)", ctx.Err(), err)
			case <-time.After(wait):
			}
			wait *= 2
		}
		if err = try(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%d attempts: %w", attempts, err)
}

// ConnectOnce dials ai from h once, within timeout, skipping the dial
// backoff libp2p's swarm keeps for a peer it failed to reach (which would
// fail a retry at once, making three attempts one): a TCP client has
// none, and the baselines stand for TCP clients.
func ConnectOnce(ctx context.Context, h host.Host, ai peer.AddrInfo, timeout time.Duration) error {
	dctx, cancel := context.WithTimeout(lpnet.WithForceDirectDial(ctx, "baseline retry"), timeout)
	defer cancel()
	return h.Connect(dctx, ai)
}

// Dial connects h to ai in up to DialAttempts tries of DialTimeout each,
// RedialWait doubling between them: a handshake can time out on a loaded
// machine.
func Dial(ctx context.Context, h host.Host, ai peer.AddrInfo) error {
	err := Retrying(ctx, DialAttempts, RedialWait, func() error { return ConnectOnce(ctx, h, ai, DialTimeout) })
	if err != nil {
		return fmt.Errorf("dialing %s: %w", ai.ID, err)
	}
	return nil
}

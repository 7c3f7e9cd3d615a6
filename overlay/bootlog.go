package overlay

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// bootstrapLog logs the dials of bootstrap peers so an operator finds a
// dead or misconfigured one (wrong address, wrong peer ID) at once: a
// peer's first failure, and its failures every BootstrapWarnInterval
// after, at warn with the error; repeats in between at debug; each
// connection at info.
type bootstrapLog struct {
	log *slog.Logger

	mu      sync.Mutex
	failing map[peer.ID]failingPeer
}

// failingPeer is a bootstrap peer whose dials fail.
type failingPeer struct {
	since, warned time.Time
	attempts      int
}

func newBootstrapLog(log *slog.Logger) *bootstrapLog {
	return &bootstrapLog{log: log, failing: map[peer.ID]failingPeer{}}
}

// dialled logs the outcome err of one dial of bootstrap peer p at addr.
func (b *bootstrapLog) dialled(addr string, p peer.ID, err error) {
	now := time.Now()
	b.mu.Lock()
	f, wasFailing := b.failing[p]
	warn := false
	if err == nil {
		delete(b.failing, p)
	} else {
		if !wasFailing {
			f.since = now
		}
		f.attempts++
		if warn = now.Sub(f.warned) >= BootstrapWarnInterval; warn {
			f.warned = now
		}
		b.failing[p] = f
	}
	b.mu.Unlock()
	switch {
	case err == nil && wasFailing:
		b.log.Info("connected to bootstrap peer", "peer", p.String(), "addr", addr,
			"failed_attempts", f.attempts, "unreachable_for", now.Sub(f.since).Round(time.Second).String())
	case err == nil:
		b.log.Info("connected to bootstrap peer", "peer", p.String(), "addr", addr)
	case warn:
		b.log.Warn("cannot reach bootstrap peer", "peer", p.String(), "addr", addr, "attempts", f.attempts, "err", err)
	default:
		b.log.Debug("cannot reach bootstrap peer", "peer", p.String(), "addr", addr, "attempts", f.attempts, "err", err)
	}
}

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
// connection at info, also one this node did not dial (the peer dialled
// in, or discovery connected them first), once.
type bootstrapLog struct {
	log *slog.Logger

	mu      sync.Mutex
	failing map[peer.ID]failingPeer
	// logged holds the peers whose connection was logged since their
	// last failed dial.
	logged map[peer.ID]bool
}

// failingPeer is a bootstrap peer whose dials fail.
type failingPeer struct {
	since, warned time.Time
	attempts      int
}

func newBootstrapLog(log *slog.Logger) *bootstrapLog {
	return &bootstrapLog{log: log, failing: map[peer.ID]failingPeer{}, logged: map[peer.ID]bool{}}
}

// dialled logs the outcome err of one dial of bootstrap peer p at addr.
func (b *bootstrapLog) dialled(addr string, p peer.ID, err error) {
	now := time.Now()
	b.mu.Lock()
	f, wasFailing := b.failing[p]
	warn := false
	if err == nil {
		delete(b.failing, p)
		b.logged[p] = true
	} else {
		delete(b.logged, p)
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

// found logs bootstrap peer p, at addr, found connected without a dial of
// this node's, unless its connection was logged since its last failed
// dial: a peer that failed and then came by another way would otherwise
// stay "cannot reach" in the log for good.
func (b *bootstrapLog) found(addr string, p peer.ID) {
	now := time.Now()
	b.mu.Lock()
	f, wasFailing := b.failing[p]
	logged := b.logged[p]
	delete(b.failing, p)
	b.logged[p] = true
	b.mu.Unlock()
	switch {
	case wasFailing:
		b.log.Info("connected to bootstrap peer", "peer", p.String(), "addr", addr, "dialled", false,
			"failed_attempts", f.attempts, "unreachable_for", now.Sub(f.since).Round(time.Second).String())
	case !logged:
		b.log.Info("connected to bootstrap peer", "peer", p.String(), "addr", addr, "dialled", false)
	}
}

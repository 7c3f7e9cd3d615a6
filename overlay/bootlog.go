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
	if err == nil {
		b.connected(addr, p, true)
		return
	}
	now := time.Now()
	b.mu.Lock()
	f, wasFailing := b.failing[p]
	delete(b.logged, p)
	if !wasFailing {
		f.since = now
	}
	f.attempts++
	warn := now.Sub(f.warned) >= BootstrapWarnInterval
	if warn {
		f.warned = now
	}
	b.failing[p] = f
	b.mu.Unlock()
	if warn {
		b.log.Warn("cannot reach bootstrap peer", "peer", p.String(), "addr", addr, "attempts", f.attempts, "err", err)
	} else {
		b.log.Debug("cannot reach bootstrap peer", "peer", p.String(), "addr", addr, "attempts", f.attempts, "err", err)
	}
}

// found logs bootstrap peer p, at addr, found connected without a dial of
// this node's, unless its connection was logged since its last failed
// dial: a peer that failed and then came by another way would otherwise
// stay "cannot reach" in the log for good.
func (b *bootstrapLog) found(addr string, p peer.ID) { b.connected(addr, p, false) }

// connected records p as connected and logs it: always when this node
// dialled it, else once since its last failed dial; with its failed
// attempts if it was failing.
func (b *bootstrapLog) connected(addr string, p peer.ID, dialled bool) {
	now := time.Now()
	b.mu.Lock()
	f, wasFailing := b.failing[p]
	logged := b.logged[p]
	delete(b.failing, p)
	b.logged[p] = true
	b.mu.Unlock()
	attrs := []any{"peer", p.String(), "addr", addr}
	if !dialled {
		if logged && !wasFailing {
			return
		}
		attrs = append(attrs, "dialled", false)
	}
	if wasFailing {
		attrs = append(attrs, "failed_attempts", f.attempts, "unreachable_for", now.Sub(f.since).Round(time.Second).String())
	}
	b.log.Info("connected to bootstrap peer", attrs...)
}

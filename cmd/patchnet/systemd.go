package main

import (
	"context"
	"fmt"
	"time"

	"github.com/patchnet/patchnet/internal/sdnotify"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
)

// ReadyCatchUpWait bounds how long a node with bootstrap peers waits for
// its first catch-up before it tells systemd it is ready all the same: its
// peers may all be down, and a service that never becomes ready is killed
// at TimeoutStartSec (90 s by default) and restarted, which helps nobody.
// The STATUS line then says it has not caught up.
const ReadyCatchUpWait = 30 * time.Second

// StatusInterval is how often the STATUS line is recomputed; it is sent
// only when it changed.
const StatusInterval = 5 * time.Second

// serviceNotifier keeps systemd informed about one running node: READY=1
// once start-up is over, STATUS= lines, WATCHDOG=1 pings and STOPPING=1.
type serviceNotifier struct {
	sd      *sdnotify.Notifier
	role    trust.Role
	zone    string
	n       *node.Node
	say     func(string) // prints a line to the node's output
	lastErr string       // the last failure printed, so a dead socket is reported once
	// readyWait bounds the wait for the first catch-up (ReadyCatchUpWait).
	readyWait time.Duration
	quit      chan struct{}
	done      chan struct{}
}

// notifyService starts telling systemd about n, which runs as role, if
// systemd started this process (NOTIFY_SOCKET is set); otherwise it does
// nothing. Readiness: New has returned (the install journal recovered, the
// overlay listening and subscribed) and, when cfg has bootstrap peers, the
// first catch-up from a peer has ended or ReadyCatchUpWait has passed.
// STOPPING=1 goes out when ctx ends, or when stop is called first; stop
// returns once the notifier has finished. Failures are printed through say.
func notifyService(ctx context.Context, role trust.Role, cfg node.Config, n *node.Node, say func(string)) (stop func()) {
	sd, err := sdnotify.FromEnv()
	if err != nil {
		say("systemd: " + err.Error() + "; no watchdog pings")
	}
	if !sd.Enabled() {
		return func() {}
	}
	s := &serviceNotifier{sd: sd, role: role, zone: cfg.Zone, n: n, say: say, readyWait: ReadyCatchUpWait}
	return s.start(ctx, len(cfg.Overlay.BootstrapPeers) > 0)
}

// start runs the notifier until stop is called, STOPPING=1 going out when
// ctx ends or at stop, whichever comes first; bootstrap says whether the
// node has peers to catch up from before it is ready.
func (s *serviceNotifier) start(ctx context.Context, bootstrap bool) (stop func()) {
	s.quit, s.done = make(chan struct{}), make(chan struct{})
	go s.run(ctx, bootstrap)
	return func() {
		close(s.quit)
		<-s.done
	}
}

// run sends the node's states until quit is closed.
func (s *serviceNotifier) run(ctx context.Context, bootstrap bool) {
	defer close(s.done)
	var ping <-chan time.Time
	if d := s.sd.PingInterval(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		ping = t.C
		s.report(s.sd.Ping())
	}
	refresh := time.NewTicker(StatusInterval)
	defer refresh.Stop()
	caughtUp := s.n.Overlay().CaughtUp()
	var giveUp <-chan time.Time
	ready, caught, status := false, false, ""
	becomeReady := func() {
		ready, status = true, s.status(caught)
		s.report(s.sd.Ready(status))
	}
	if bootstrap {
		t := time.NewTimer(s.readyWait)
		defer t.Stop()
		giveUp = t.C
	} else {
		becomeReady() // nobody to catch up from until peers dial in
	}
	stopping := ctx.Done()
	for {
		select {
		case <-caughtUp:
			caughtUp, caught = nil, true
			if !ready {
				becomeReady()
			}
		case <-giveUp:
			if !ready {
				becomeReady()
			}
		case <-ping:
			s.report(s.sd.Ping())
		case <-refresh.C:
			if st := s.status(caught); ready && st != status {
				status = st
				s.report(s.sd.Status(st))
			}
		case <-stopping:
			// Run drains the node now (an install finishes first): keep
			// pinging until it returned.
			stopping = nil
			s.report(s.sd.Stopping(s.stoppingStatus()))
		case <-s.quit:
			if stopping != nil {
				s.report(s.sd.Stopping(s.stoppingStatus()))
			}
			return
		}
	}
}

// status is the STATUS line of a running node: its role, zone, verified
// peers and whether it has caught up.
func (s *serviceNotifier) status(caught bool) string {
	peers := 0
	for _, p := range s.n.Overlay().Peers() {
		if p.Verified {
			peers++
		}
	}
	noun := "peers"
	if peers == 1 {
		noun = "peer"
	}
	catchUp := "caught up"
	if !caught {
		catchUp = "not caught up yet"
	}
	return fmt.Sprintf("%s of zone %s: %d verified %s, %s", s.role, s.zone, peers, noun, catchUp)
}

func (s *serviceNotifier) stoppingStatus() string {
	return fmt.Sprintf("%s of zone %s: stopping", s.role, s.zone)
}

// report prints err unless it repeats the last failure printed.
func (s *serviceNotifier) report(err error) {
	if err == nil || err.Error() == s.lastErr {
		return
	}
	s.lastErr = err.Error()
	s.say("systemd: " + s.lastErr)
}

package overlay

import (
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// caughtUpWait bounds the wait for a start-up catch-up on loopback.
const caughtUpWait = 20 * time.Second

// CaughtUp stays open on a node nobody answered, and closes once the first
// catch-up ended, by which time what the peer kept has been validated and
// delivered (the daemon tells systemd it is ready on it).
func TestCaughtUpClosesAfterFirstCatchUp(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	publisher := pki.Issue(t, testZone, trust.RoleSupernode)
	b := startNode(t, pki, nodeOpts{member: publisher})
	collect(t, b.Overlay, b.AnnounceTopic())
	kept := announcement(t, publisher, "kept-before-x-started")
	if _, err := b.Keep(KindAnnouncement, kept); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.CaughtUp():
		t.Fatal("a node without peers says it caught up")
	default:
	}

	x := startNode(t, pki, nodeOpts{cfg: withBootstrap(testConfig(), b)})
	collect(t, x.Overlay, x.AnnounceTopic()) // subscribing starts catch-up
	select {
	case <-x.CaughtUp():
	case <-time.After(caughtUpWait):
		t.Fatalf("x did not catch up from its bootstrap peer within %v", caughtUpWait)
	}
	if s := x.Stats(); s.CatchUpAccepted != 1 {
		t.Errorf("when CaughtUp closed x had accepted %d catch-up items, want 1 (the kept announcement)", s.CatchUpAccepted)
	}
}

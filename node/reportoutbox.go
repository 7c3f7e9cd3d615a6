package node

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
)

// The report outbox: an agent keeps each signed install report in its
// database until a supernode has taken it, and sends it again — first to
// the zone's supernodes it is connected to, else to the update's
// co-signers, reached by address — ReportRetryFirst after a round that
// left it waiting, doubling up to ReportRetryMax, and at every start. An
// agent that installed while cut off from its supernodes (a fetch from
// the vendor URL, a supernode restarting, a busy one resetting the stream)
// reported to nobody before. Opting out discards what waits: nothing is
// sent once [report] enabled is false.

// Report outbox events.
const (
	// EventReportWaiting: no supernode took an install report yet; the
	// agent keeps it and sends it again (the detail says why).
	EventReportWaiting EventKind = "report-waiting"
	// EventReportDropped: an install report waited past WaitingReportAge
	// or was pushed out by MaxWaitingReports newer ones.
	EventReportDropped EventKind = "report-dropped"
)

// outboxPrefix keys the waiting reports by update id and zero-padded
// version: one per version, the newest outcome replacing an earlier one.
const outboxPrefix = "node/report-outbox/"

// waitingReport is a signed install report no supernode has taken yet.
type waitingReport struct {
	ID      string        `json:"id"`
	Version uint64        `json:"version"`
	Outcome ReportOutcome `json:"outcome"`
	// Signed is the report as sent: signed once, when the outcome was
	// recorded, and never re-encoded.
	Signed []byte `json:"signed"`
	// CoSigners are the supernodes whose co-signatures the agent accepted
	// the update on: whom to reach when it is connected to no supernode.
	CoSigners []peer.ID `json:"co_signers"`
	Queued    time.Time `json:"queued"`
	Rounds    int       `json:"rounds"` // sending rounds that left it waiting
}

func (w *waitingReport) key() string {
	return fmt.Sprintf("%s%s/%020d", outboxPrefix, w.ID, w.Version)
}

// reportOutbox is an agent's waiting reports, in its database.
type reportOutbox struct {
	mu   sync.Mutex // one change at a time: add's bound, done's compare
	db   *badger.DB
	wake chan struct{} // a report was added: send now
}

// openReportOutbox opens the outbox in db. When the agent does not report
// (enabled false) whatever waits from an earlier run is discarded, and
// dropped says how many.
func openReportOutbox(db *badger.DB, enabled bool) (o *reportOutbox, dropped int, err error) {
	o = &reportOutbox{db: db, wake: make(chan struct{}, 1)}
	if enabled {
		return o, 0, nil
	}
	all, err := o.list()
	if err != nil {
		return nil, 0, err
	}
	for _, w := range all {
		if err := deleteRecord(db, w.key()); err != nil {
			return nil, 0, err
		}
	}
	return o, len(all), nil
}

// list is every waiting report, oldest first.
func (o *reportOutbox) list() ([]waitingReport, error) {
	var out []waitingReport
	err := eachRecord(o.db, outboxPrefix, func(_ string, w waitingReport) error {
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading waiting install reports: %w", err)
	}
	slices.SortStableFunc(out, func(a, b waitingReport) int { return a.Queued.Compare(b.Queued) })
	return out, nil
}

// add keeps w, replacing a report of the same version, and returns the
// one it pushed out past MaxWaitingReports, if any.
func (o *reportOutbox) add(w waitingReport) (*waitingReport, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	all, err := o.list()
	if err != nil {
		return nil, err
	}
	var out *waitingReport
	if !slices.ContainsFunc(all, func(x waitingReport) bool { return x.key() == w.key() }) && len(all) >= MaxWaitingReports {
		out = &all[0]
		if err := deleteRecord(o.db, out.key()); err != nil {
			return nil, err
		}
	}
	if err := putRecord(o.db, w.key(), w); err != nil {
		return nil, err
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return out, nil
}

// done removes w once a supernode took it, unless a newer outcome of its
// version replaced it meanwhile (that one still waits).
func (o *reportOutbox) done(w waitingReport) error {
	return o.edit(w, func() error { return deleteRecord(o.db, w.key()) })
}

// waited counts a round that left w waiting.
func (o *reportOutbox) waited(w waitingReport) error {
	w.Rounds++
	return o.edit(w, func() error { return putRecord(o.db, w.key(), w) })
}

// edit runs change when the report kept at w's key is still w.
func (o *reportOutbox) edit(w waitingReport, change func() error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	kept, ok, err := getRecord[waitingReport](o.db, w.key())
	if err != nil || !ok || !bytes.Equal(kept.Signed, w.Signed) {
		return err
	}
	return change()
}

// count is how many reports wait (0 if the database cannot say), read
// without decoding them: status and metrics ask on every read.
func (o *reportOutbox) count() int {
	n, err := countRecords(o.db, outboxPrefix)
	if err != nil {
		return 0
	}
	return n
}

// queueReport signs r and keeps it in the outbox for the report loop,
// naming the supernodes whose co-signatures the update was accepted on.
func (n *Node) queueReport(r InstallReport, coSigners []trust.Identity) {
	signed, err := n.signReport(r)
	if err != nil {
		n.log.Warn("signing install report", "id", r.ID, "err", err)
		return
	}
	w := waitingReport{ID: r.ID, Version: r.Version, Outcome: r.Outcome, Signed: signed, Queued: n.verifier.Now()}
	for _, id := range coSigners[:min(len(coSigners), MaxReportCoSigners)] {
		w.CoSigners = append(w.CoSigners, id.PeerID)
	}
	pushed, err := n.agent.reports.add(w)
	if err != nil {
		n.log.Warn("keeping install report", "id", r.ID, "err", err)
		return
	}
	if pushed != nil {
		n.emit(Event{Kind: EventReportDropped, ID: pushed.ID, Version: pushed.Version,
			Detail: fmt.Sprintf("install report (%s) dropped unsent: %d newer reports wait (limit)", pushed.Outcome, MaxWaitingReports)})
	}
}

// reportLoop sends the waiting reports: at start (what an earlier run
// left), when one is added, and again after a round that left some
// waiting, ReportRetryFirst doubling up to ReportRetryMax.
func (n *Node) reportLoop(ctx context.Context) {
	retry := ReportRetryFirst
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.agent.reports.wake:
			retry = ReportRetryFirst
		case <-timer.C:
		}
		timer.Stop()
		if n.sendWaitingReports(ctx) > 0 {
			timer.Reset(retry)
			retry = min(2*retry, ReportRetryMax)
		}
	}
}

// sendWaitingReports runs one round over the outbox and returns how many
// reports still wait.
func (n *Node) sendWaitingReports(ctx context.Context) int {
	all, err := n.agent.reports.list()
	if err != nil {
		n.log.Warn("reading waiting install reports", "err", err)
		return 1 // try again later
	}
	left := 0
	unreachable := map[peer.ID]error{} // co-signers this round failed to reach: not tried again for the next report
	for _, w := range all {
		if ctx.Err() != nil {
			return left + 1
		}
		if !n.sendWaitingReport(ctx, w, unreachable) {
			left++
		}
	}
	return left
}

// sendWaitingReport sends w (deliverReport) and records the round: it
// reports whether w is done with (taken, or dropped for its age).
func (n *Node) sendWaitingReport(ctx context.Context, w waitingReport, unreachable map[peer.ID]error) bool {
	o := n.agent.reports
	if n.verifier.Now().Sub(w.Queued) > WaitingReportAge {
		n.emit(Event{Kind: EventReportDropped, ID: w.ID, Version: w.Version,
			Detail: fmt.Sprintf("install report (%s) dropped unsent: no supernode took it in %s (limit)", w.Outcome, WaitingReportAge)})
		return o.done(w) == nil
	}
	took, failed := n.deliverReport(ctx, w, unreachable)
	if len(took) == 0 {
		if w.Rounds == 0 {
			n.emit(Event{Kind: EventReportWaiting, ID: w.ID, Version: w.Version,
				Detail: fmt.Sprintf("install report (%s) taken by no supernode (%s); kept, sent again later", w.Outcome, orNoneText(strings.Join(failed, "; ")))})
		}
		if err := o.waited(w); err != nil {
			n.log.Warn("keeping install report", "id", w.ID, "err", err)
		}
		return false
	}
	if err := o.done(w); err != nil {
		n.log.Warn("removing sent install report", "id", w.ID, "err", err)
	}
	detail := fmt.Sprintf("install report (%s) sent to %d supernode(s): %s", w.Outcome, len(took), strings.Join(took, ", "))
	if len(failed) > 0 {
		detail += "; not taken by " + strings.Join(failed, "; ")
	}
	if w.Rounds > 0 {
		detail += fmt.Sprintf("; after %d round(s) without", w.Rounds)
	}
	n.emit(Event{Kind: EventReported, ID: w.ID, Version: w.Version, Detail: detail})
	return true
}

// deliverReport sends w to every connected supernode of the zone and,
// when none took it, to its co-signers one after the other (connecting to
// each: Overlay.Reach) until one does, skipping those in unreachable and
// adding those it fails to reach. It returns who took it and, for the
// others, why not.
func (n *Node) deliverReport(ctx context.Context, w waitingReport, unreachable map[peer.ID]error) (took, failed []string) {
	send := func(p peer.ID) {
		if err := DeliverReport(ctx, n.ov.Host(), p, w.Signed); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", p, err))
			return
		}
		took = append(took, p.String())
	}
	tried := map[peer.ID]bool{}
	for _, p := range n.connectedWith(trust.RoleSupernode) {
		tried[p] = true
		send(p)
	}
	for _, p := range w.CoSigners {
		if len(took) > 0 {
			break
		}
		if tried[p] || p == n.ov.ID() {
			continue
		}
		err := unreachable[p]
		if err == nil {
			err = n.reachSupernode(ctx, p)
		}
		if err != nil {
			unreachable[p] = err
			failed = append(failed, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		send(p)
	}
	return took, failed
}

// reachSupernode connects to p and checks that admission verified it as
// a supernode of this zone: a report goes to no other peer.
func (n *Node) reachSupernode(ctx context.Context, p peer.ID) error {
	if err := n.ov.Reach(ctx, p); err != nil {
		return err
	}
	if pi, ok := n.ov.PeerInfo(p); !ok || !n.verifiedAs(pi, trust.RoleSupernode) {
		return fmt.Errorf("%w: %s is no supernode of zone %s", trust.ErrWrongRole, p, n.zone.Name)
	}
	return nil
}

// ReportsWaiting is how many install reports this agent keeps until a
// supernode takes them; 0 on other nodes.
func (n *Node) ReportsWaiting() int {
	if n.agent == nil || n.agent.reports == nil {
		return 0
	}
	return n.agent.reports.count()
}

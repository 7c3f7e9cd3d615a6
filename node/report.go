package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// Install reports (opt-in, [report] enabled): an agent that opts in signs
// a report of each install outcome and sends it directly to the
// supernodes it is connected to, or when none takes it to the update's
// co-signers, over ReportProtocol — never by gossip, so no agent and no
// relay learns it. It keeps the report until a supernode has taken it
// (reportoutbox.go). A supernode verifies it (an agent of
// this zone, signed with the key the stream comes from), keeps it in its
// database per update, and shows the counts with the agents' names in
// /v1/status and `patchnet status`.
//
// What a report discloses: the agent's certificate (peer ID, zone), the
// update's id, version and payload digest, the outcome (installed, failed
// or refused) with one reason word for the last two (reasonOf: "revoked",
// "other", …), and the time. Not the inventory, package versions, the
// sysroot, the installer's output or the error text. Agents that do not
// opt in send nothing: supernodes learn of them only what gossip shows.
// Outcomes that install nothing (does not apply, notify or log mode,
// superseded, withdrawn) are not reported: saying an update does not apply
// would tell what a host does not run.

// ReportPayloadType is the DSSE payload type of an install report.
const ReportPayloadType = "application/vnd.patchnet.report+json"

// ReportProtocol is the stream protocol an agent sends its install reports
// to supernodes on: the signed report, then the supernode's answer ("ok",
// or "refused: " and why).
const ReportProtocol = protocol.ID("/patchnet/report/1.0.0")

// Install report events.
const (
	// EventReported: an agent sent the install report of an outcome to its
	// supernodes (the detail says which took it).
	EventReported EventKind = "reported"
	// EventReportReceived: a supernode verified and kept an install report.
	EventReportReceived EventKind = "report-received"
	// EventReportRejected: a supernode refused an install report (forged,
	// another zone's, revoked, oversized, malformed).
	EventReportRejected EventKind = "report-rejected"
)

// ReportConfig is the [report] table.
type ReportConfig struct {
	// Enabled makes an agent send a signed report of each install outcome
	// to the supernodes it is connected to (else the update's co-signers),
	// kept until one takes it. Default: false, for privacy:
	// without it an agent discloses nothing beyond taking part in gossip.
	Enabled bool `toml:"enabled"`
}

// ReportOutcome is what an install report says happened.
type ReportOutcome string

// The outcomes an agent reports.
const (
	OutcomeInstalled ReportOutcome = "installed" // the install transaction committed
	OutcomeFailed    ReportOutcome = "failed"    // the install transaction or the artifact check failed
	OutcomeRefused   ReportOutcome = "refused"   // checked again before installing, it no longer passed
)

// reportOutcomes maps the final workflow events reported to their outcome.
var reportOutcomes = map[EventKind]ReportOutcome{
	EventInstalled: OutcomeInstalled, EventFailed: OutcomeFailed, EventRefusedInstall: OutcomeRefused,
}

// InstallReport is the payload an agent signs: the whole of what it
// discloses about one outcome.
type InstallReport struct {
	Zone    string         `json:"zone"`
	ID      string         `json:"id"`
	Version uint64         `json:"version"`
	Digest  updates.Digest `json:"digest"`
	Outcome ReportOutcome  `json:"outcome"`
	// Reason is one stable word (reasonOf) for a failed or refused
	// outcome; never the error's text, which may name paths and packages.
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// reportOutcome keeps the install report of a final step in the outbox
// (reportoutbox.go), which sends it, when the agent opted in; otherwise it
// does nothing at all.
func (n *Node) reportOutcome(acc *updates.Accepted, s Step) {
	outcome, ok := reportOutcomes[s.Kind]
	if !ok || !n.cfg.Report.Enabled {
		return
	}
	a := acc.Announcement
	r := InstallReport{Zone: n.zone.Name, ID: a.ID, Version: a.Patchnet.Version, Digest: acc.Digest, Outcome: outcome,
		Time: n.verifier.Now()}
	if outcome != OutcomeInstalled {
		r.Reason = reasonOf(s.Err)
	}
	n.queueReport(r, acc.Supernodes)
}

// signReport encodes and signs r with this agent's key and chain.
func (n *Node) signReport(r InstallReport) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	env := trust.NewEnvelope(ReportPayloadType, payload)
	if err := n.creds.Sign(env); err != nil {
		return nil, fmt.Errorf("signing install report: %w", err)
	}
	return env.Marshal()
}

// connectedWith lists the connected peers that admission verified as
// holding role in this zone.
func (n *Node) connectedWith(role trust.Role) []peer.ID {
	var out []peer.ID
	for _, pi := range n.ov.Peers() {
		if n.verifiedAs(pi, role) {
			out = append(out, pi.ID)
		}
	}
	return out
}

// verifiedAs reports whether admission verified pi as holding role in
// this zone.
func (n *Node) verifiedAs(pi overlay.PeerInfo, role trust.Role) bool {
	return pi.Verified && pi.Identity.Holds(role, n.zone)
}

// DeliverReport sends a signed install report to the supernode p over h
// (connected already) and returns nil once p kept it, or p's refusal.
func DeliverReport(ctx context.Context, h host.Host, p peer.ID, raw []byte) error {
	answer, err := exchange(ctx, h, p, ReportProtocol, raw, MaxReportAnswerBytes)
	if err != nil {
		return err
	}
	if string(answer) != reportOK {
		return fmt.Errorf("supernode %s %s", p, answer)
	}
	return nil
}

// reportOK is a supernode's answer to a report it kept.
const reportOK = "ok"

// handleReport is a supernode's end of ReportProtocol: it verifies the
// report, keeps it and answers "ok", or answers why not.
func (n *Node) handleReport(s network.Stream) {
	serveExchange(s, n.cosigner.reportSem, MaxReportBytes, func(from peer.ID, raw []byte, err error) []byte {
		n.cosigner.reportStreams.Add(1)
		var r *receivedReport
		if err == nil {
			err = n.mayReport(from)
		}
		if err == nil && !n.cosigner.reportBudget.allow(from) { // before any signature is checked
			err = fmt.Errorf("admitting install report: %w: agent %s sent more than %d at above %d a second",
				ErrReportRateLimited, from, ReportBurst, ReportRate)
		}
		if err == nil {
			r, err = n.verifyReport(from, raw)
		}
		if err == nil {
			err = n.knownUpdate(r.InstallReport)
		}
		var evicted *updateKey
		if err == nil {
			evicted, err = n.cosigner.reports.add(r)
		}
		if evicted != nil {
			n.log.Info("install reports deleted to make room", "id", evicted.id, "version", evicted.version,
				"limit", MaxReportedUpdates)
		}
		if err != nil {
			err = fmt.Errorf("refusing install report from %s: %w", from, err)
			n.emit(Event{Kind: EventReportRejected, Detail: err.Error(), Reason: reasonOf(err)})
			return []byte("refused: " + err.Error())
		}
		n.emit(Event{Kind: EventReportReceived, ID: r.ID, Version: r.Version,
			Detail: fmt.Sprintf("agent %s reports %s", r.Agent, r.Outcome)})
		return []byte(reportOK)
	})
}

// ReportStreams counts the install report streams this supernode was
// sent, kept or refused: an agent that did not opt in opens none.
// Zero on nodes that are no supernode (they serve no such stream).
func (n *Node) ReportStreams() uint64 {
	if n.cosigner == nil {
		return 0
	}
	return n.cosigner.reportStreams.Load()
}

// mayReport admits reports only from peers that admission verified as
// agents of this zone (waiting for the exchange with one that has just
// connected), before any signature is checked: others cost this
// supernode nothing more.
func (n *Node) mayReport(from peer.ID) error {
	n.ov.WaitVerified(context.Background(), from) // bounded by the overlay's AuthDeadline
	pi, ok := n.ov.PeerInfo(from)
	switch {
	case ok && !pi.Verified && pi.Err != nil:
		return fmt.Errorf("admitting install report: peer %s is not admitted: %w", from, pi.Err) // revoked, expired, …
	case !ok || !pi.Verified:
		return fmt.Errorf("admitting install report: %w: peer %s is not admitted", trust.ErrUntrusted, from)
	}
	if err := pi.Identity.Check(trust.RoleAgent, n.zone); err != nil {
		return fmt.Errorf("admitting install report: %w", err)
	}
	return nil
}

// verifyReport checks a report sent by peer from: one signature by an
// agent of this zone whose certificate is from's (agents report for
// themselves; a peer relaying another's report is refused), a payload of
// this zone with a known outcome, not from the future.
func (n *Node) verifyReport(from peer.ID, raw []byte) (*receivedReport, error) {
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("reading install report: %w", err)
	}
	id, err := n.verifyOneSigner(env, ReportPayloadType)
	if err != nil {
		return nil, fmt.Errorf("verifying install report: %w", err)
	}
	if err := id.Check(trust.RoleAgent, n.zone); err != nil {
		return nil, fmt.Errorf("verifying install report: %w", err)
	}
	if id.PeerID != from {
		return nil, fmt.Errorf("verifying install report: %w: signed by %s, sent by %s", trust.ErrPeerIDMismatch, id.PeerID, from)
	}
	var r InstallReport
	dec := json.NewDecoder(bytes.NewReader(env.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding install report: %w: %w", trust.ErrMalformed, err)
	}
	if err := n.checkReport(r); err != nil {
		return nil, err
	}
	return &receivedReport{InstallReport: r, Agent: id.PeerID.String()}, nil
}

// checkReport checks the fields of a verified report.
func (n *Node) checkReport(r InstallReport) error {
	switch {
	case r.Zone != n.zone.Name:
		return fmt.Errorf("checking install report: %w: it is for zone %q, this is %q", trust.ErrWrongZone, r.Zone, n.zone.Name)
	case r.ID == "" || len(r.ID) > MaxReportIDBytes:
		return fmt.Errorf("checking install report: %w: id %q", trust.ErrMalformed, r.ID)
	case r.Outcome != OutcomeInstalled && r.Outcome != OutcomeFailed && r.Outcome != OutcomeRefused:
		return fmt.Errorf("checking install report: %w: outcome %q", trust.ErrMalformed, r.Outcome)
	case len(r.Reason) > MaxReportReasonBytes:
		return fmt.Errorf("checking install report: %w: reason of %d bytes", trust.ErrMalformed, len(r.Reason))
	case r.Time.After(n.verifier.Now().Add(updates.MaxClockSkew)):
		return fmt.Errorf("checking install report: %w: dated %s, ahead of this node's clock", trust.ErrNotYetValid, r.Time.UTC().Format(time.RFC3339))
	}
	return nil
}

// ErrReportRateLimited is a supernode's answer to an install report
// from an agent that spent its budget (ReportRate, ReportBurst): the
// agent keeps the report and sends it again later.
var ErrReportRateLimited = errors.New("rate-limited")

// ErrUnknownUpdate is a supernode's answer to an install report of an
// update it never had a proposal of at that version: it keeps reports of
// the zone's own updates only, so no agent can fill its store with
// versions nobody published.
var ErrUnknownUpdate = fmt.Errorf("%w: update unknown to this supernode", trust.ErrUntrusted)

// knownUpdate checks that this supernode had a proposal of r's update at
// r's version or a later one (co-signed, or being checked); one it
// refused is unknown here, and the agent takes its report to the
// update's co-signers.
func (n *Node) knownUpdate(r InstallReport) error {
	rec, ok, err := n.cosigner.records.get(r.ID)
	if err != nil {
		return fmt.Errorf("checking install report: %w", err)
	}
	if !ok || rec.Version < r.Version {
		return fmt.Errorf("checking install report: %w: %s version %d", ErrUnknownUpdate, r.ID, r.Version)
	}
	return nil
}

// orNoneText is s, or "none" when it is empty.
func orNoneText(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// Co-signing status: a publisher asks each supernode it is connected to,
// over CoSignStatusProtocol, how its proposal stands there — checking the
// artifact at the vendor's origin, checked, co-signed, or refused and why —
// and `patchnet publish` prints it. The answer is signed by the supernode:
// the stream is already authenticated end to end to the supernode's peer
// ID, but a signed answer is the supernode's own statement, checked with
// the same verifier as everything else, whatever carried it. The publisher
// asks rather than the supernode telling: a supernode need not reach the
// publisher (behind NAT, or gone), refusals wait in a bounded table until
// asked, and nothing about a proposal goes to anyone but a publisher of
// the zone. Gossip was not used: every node would carry every refusal.

// CoSignStatusProtocol is the stream a publisher asks a supernode on: a
// JSON coSignStatusRequest, answered by a CoSignStatus signed by the
// supernode, or by "refused: " and why the question is not answered.
const CoSignStatusProtocol = protocol.ID("/patchnet/cosign-status/1.0.0")

// CoSignStatusPayloadType is the DSSE payload type of a CoSignStatus.
const CoSignStatusPayloadType = "application/vnd.patchnet.cosign-status+json"

// ProposalState is where a proposal stands at one supernode.
type ProposalState string

// The states of a proposal at a supernode.
const (
	ProposalUnknown  ProposalState = "unknown"   // not seen there (yet), or forgotten
	ProposalChecking ProposalState = "checking"  // fetching the artifact from the vendor's origin and checking it
	ProposalWaiting  ProposalState = "waiting"   // another payload of its version is being checked there first
	ProposalChecked  ProposalState = "checked"   // fetched and checked: being co-signed
	ProposalCoSigned ProposalState = "co-signed" // co-signed and sent to the zone
	ProposalRefused  ProposalState = "refused"   // not co-signed: Reason says why
)

// Final reports whether the state will not change.
func (s ProposalState) Final() bool { return s == ProposalCoSigned || s == ProposalRefused }

// CoSignStatus is a supernode's signed answer about one proposal.
type CoSignStatus struct {
	Zone    string         `json:"zone"`
	ID      string         `json:"id"`
	Version uint64         `json:"version"`
	Digest  updates.Digest `json:"digest"` // SHA-256 of the announcement payload
	State   ProposalState  `json:"state"`
	// Reason is why a proposal was refused: the supernode's error text
	// (origin not allowed, vendor signature bad, digest mismatch, …).
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// coSignStatusRequest is a publisher's question: how stands this payload?
type coSignStatusRequest struct {
	ID      string         `json:"id"`
	Version uint64         `json:"version"`
	Digest  updates.Digest `json:"digest"`
}

// proposalStates is a supernode's memory of its progress on the latest
// MaxProposalStates proposals, by payload digest.
type proposalStates struct {
	mu    sync.Mutex
	m     map[updates.Digest]proposalState
	order []updates.Digest // oldest first
}

// proposalState is one proposal's progress.
type proposalState struct {
	state  ProposalState
	reason string
	at     time.Time
}

func newProposalStates() *proposalStates {
	return &proposalStates{m: map[updates.Digest]proposalState{}}
}

// set records d's state, forgetting the oldest proposal when full.
func (p *proposalStates) set(d updates.Digest, st proposalState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[d]; !ok {
		if len(p.order) >= MaxProposalStates {
			delete(p.m, p.order[0])
			p.order = p.order[1:]
		}
		p.order = append(p.order, d)
	}
	if len(st.reason) > MaxProposalReasonBytes {
		st.reason = st.reason[:MaxProposalReasonBytes] + "…"
	}
	p.m[d] = st
}

// setIfAbsent records d's state unless d has one.
func (p *proposalStates) setIfAbsent(d updates.Digest, st proposalState) {
	p.mu.Lock()
	_, ok := p.m[d]
	p.mu.Unlock()
	if !ok {
		p.set(d, st)
	}
}

// get returns d's state.
func (p *proposalStates) get(d updates.Digest) (proposalState, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.m[d]
	return st, ok
}

// noteProposal records where this supernode stands on the payload digest
// d; err, for a refusal, says why.
func (n *Node) noteProposal(d updates.Digest, state ProposalState, err error) {
	if n.cosigner == nil {
		return
	}
	st := proposalState{state: state, at: n.verifier.Now()}
	if err != nil {
		st.reason = err.Error()
	}
	n.cosigner.proposals.set(d, st)
}

// refuseProposal records and reports this supernode's refusal to co-sign.
func (n *Node) refuseProposal(acc *updates.Accepted, err error) {
	a := acc.Announcement
	n.noteProposal(acc.Digest, ProposalRefused, err)
	n.emit(Event{Kind: EventRefused, ID: a.ID, Version: a.Patchnet.Version, Detail: err.Error(), Reason: reasonOf(err)})
}

// noteInvalidProposal records why this supernode's validator refused a
// proposal on the supernodes' topic before any check of its artifact (its
// publisher is not one of this zone, it expired, …), so the publisher
// asking is told. It never replaces what is known of the payload: a copy
// carrying some other, bad signature must not make a proposal being
// checked or co-signed look refused.
func (n *Node) noteInvalidProposal(topic string, env *trust.Envelope, err error) {
	if topic != n.topics.supernodes || n.cosigner == nil || err == nil {
		return
	}
	reason := fmt.Errorf("not a proposal this supernode takes: %w", err)
	n.cosigner.proposals.setIfAbsent(sha256.Sum256(env.Payload),
		proposalState{state: ProposalRefused, reason: reason.Error(), at: n.verifier.Now()})
}

// handleCoSignStatus is a supernode's end of CoSignStatusProtocol.
func (n *Node) handleCoSignStatus(s network.Stream) {
	serveExchange(s, n.cosigner.statusSem, MaxCoSignStatusRequestBytes, func(from peer.ID, raw []byte, err error) []byte {
		if err == nil {
			err = n.mayAskStatus(from)
		}
		var req coSignStatusRequest
		if err == nil {
			if err = json.Unmarshal(raw, &req); err != nil {
				err = fmt.Errorf("decoding status query: %w: %w", trust.ErrMalformed, err)
			}
		}
		var out []byte
		if err == nil {
			out, err = n.signCoSignStatus(n.coSignStatus(req))
		}
		if err != nil {
			return []byte("refused: " + err.Error())
		}
		return out
	})
}

// mayAskStatus admits only publishers of this zone that passed admission:
// how a proposal fares is theirs to know.
func (n *Node) mayAskStatus(from peer.ID) error {
	pi, ok := n.ov.PeerInfo(from)
	if !ok || !pi.Verified {
		return fmt.Errorf("%w: peer %s is not admitted", trust.ErrUntrusted, from)
	}
	if err := pi.Identity.Check(trust.RolePublisher, n.zone); err != nil {
		return fmt.Errorf("answering status query: %w", err)
	}
	return nil
}

// coSignStatus is where req's payload stands here: the progress table,
// else the co-signing record (a restart forgets the table, not what was
// co-signed).
func (n *Node) coSignStatus(req coSignStatusRequest) CoSignStatus {
	out := CoSignStatus{Zone: n.zone.Name, ID: req.ID, Version: req.Version, Digest: req.Digest, State: ProposalUnknown,
		Time: n.verifier.Now()}
	if st, ok := n.cosigner.proposals.get(req.Digest); ok {
		out.State, out.Reason = st.state, st.reason
		return out
	}
	if rec, ok, err := n.cosigner.records.get(req.ID); err == nil && ok && rec.Done && rec.Version == req.Version && rec.Digest == req.Digest {
		out.State = ProposalCoSigned
	}
	return out
}

// signCoSignStatus signs st with this supernode's key.
func (n *Node) signCoSignStatus(st CoSignStatus) ([]byte, error) {
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	env := trust.NewEnvelope(CoSignStatusPayloadType, payload)
	if err := n.creds.Sign(env); err != nil {
		return nil, fmt.Errorf("signing status: %w", err)
	}
	return env.Marshal()
}

// SupernodeProgress is what one supernode answered about a proposal.
type SupernodeProgress struct {
	Peer peer.ID
	// Status is the supernode's verified answer; zero when Err is set.
	Status CoSignStatus
	// Err is why there is no answer (no stream, refused, forged).
	Err error
}

// CoSignProgress asks every supernode of the zone this node is connected
// to how the proposal in envelope stands there, in parallel. Each answer
// is verified: signed by that very supernode, about this payload.
func (n *Node) CoSignProgress(ctx context.Context, envelope []byte) ([]SupernodeProgress, error) {
	env, err := trust.ParseEnvelope(envelope)
	if err != nil {
		return nil, fmt.Errorf("reading the published envelope: %w", err)
	}
	a, err := updates.DecodeAnnouncement(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("reading the published announcement: %w", err)
	}
	req := coSignStatusRequest{ID: a.ID, Version: a.Patchnet.Version, Digest: sha256.Sum256(env.Payload)}
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	peers := n.connectedWith(trust.RoleSupernode)
	out := make([]SupernodeProgress, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			st, err := n.askStatus(ctx, p, raw, req)
			out[i] = SupernodeProgress{Peer: p, Status: st, Err: err}
		})
	}
	wg.Wait()
	return out, nil
}

// errStatusRefused is a supernode's refusal to answer a status query.
var errStatusRefused = errors.New("status query refused")

// askStatus asks p about req and verifies its answer.
func (n *Node) askStatus(ctx context.Context, p peer.ID, raw []byte, req coSignStatusRequest) (CoSignStatus, error) {
	answer, err := exchange(ctx, n.ov.Host(), p, CoSignStatusProtocol, raw, MaxCoSignStatusAnswerBytes)
	if err != nil {
		return CoSignStatus{}, err
	}
	if rest, ok := bytes.CutPrefix(answer, []byte("refused: ")); ok {
		return CoSignStatus{}, fmt.Errorf("%w by %s: %s", errStatusRefused, p, rest)
	}
	env, err := trust.ParseEnvelope(answer)
	if err != nil {
		return CoSignStatus{}, fmt.Errorf("reading the status of %s: %w", p, err)
	}
	id, err := n.verifyOneSigner(env, CoSignStatusPayloadType)
	if err == nil {
		err = id.Check(trust.RoleSupernode, n.zone)
	}
	if err == nil && id.PeerID != p {
		err = fmt.Errorf("%w: signed by %s", trust.ErrPeerIDMismatch, id.PeerID)
	}
	if err != nil {
		return CoSignStatus{}, fmt.Errorf("verifying the status of %s: %w", p, err)
	}
	var st CoSignStatus
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		return CoSignStatus{}, fmt.Errorf("decoding the status of %s: %w: %w", p, trust.ErrMalformed, err)
	}
	if st.Zone != n.zone.Name || st.ID != req.ID || st.Version != req.Version || st.Digest != req.Digest {
		return CoSignStatus{}, fmt.Errorf("verifying the status of %s: %w: it answers about %s version %d in zone %s",
			p, trust.ErrMalformed, st.ID, st.Version, st.Zone)
	}
	return st, nil
}

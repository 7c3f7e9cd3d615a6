package updates

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// ErrDuplicate means an announcement was accepted before (same id, version
// and payload digest). It is not a verification failure: gossip should
// Ignore it, not penalise the sender.
var ErrDuplicate = errors.New("duplicate announcement")

// Policy is a zone's acceptance policy.
type Policy struct {
	// Zone is the zone whose publishers and supernodes must sign.
	Zone string `toml:"zone"`
	// Threshold is k, the distinct supernode co-signatures required.
	Threshold int `toml:"threshold"`
	// Publishers is how many distinct publisher signatures are required.
	Publishers int `toml:"publishers"`
}

// DefaultPolicy is a policy for zone: one publisher and two supernodes.
func DefaultPolicy(zone string) Policy {
	return Policy{
		Zone:       zone,
		Threshold:  2, // one compromised supernode alone cannot vouch
		Publishers: 1, // the author of the update
	}
}

// Validate names the first bad field.
func (p Policy) Validate() error {
	if err := trust.ValidateZoneName(p.Zone); err != nil {
		return fmt.Errorf("policy.zone: %q: %w", p.Zone, err)
	}
	if p.Threshold < 1 || p.Threshold > MaxThreshold {
		return fmt.Errorf("policy.threshold: %d is not in 1..%d", p.Threshold, MaxThreshold)
	}
	if p.Publishers < 1 || p.Publishers > MaxThreshold {
		return fmt.Errorf("policy.publishers: %d is not in 1..%d", p.Publishers, MaxThreshold)
	}
	return nil
}

// Accepted is an announcement that passed every check of the pipeline.
type Accepted struct {
	Announcement *Announcement
	Envelope     *trust.VerifiedEnvelope
	// Digest is the SHA-256 of the payload: what equivocation compares.
	Digest     Digest
	Publishers []trust.Identity
	Supernodes []trust.Identity
}

// Acceptor runs the acceptance pipeline of DESIGN.md and remembers what it
// accepted in a SeenStore. It is safe for concurrent use.
type Acceptor struct {
	mu       sync.Mutex
	verifier *trust.Verifier
	policy   Policy
	store    SeenStore
}

// NewAcceptor checks policy and returns an acceptor that verifies with v
// (and reads time from v's clock) and records in store.
func NewAcceptor(v *trust.Verifier, policy Policy, store SeenStore) (*Acceptor, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if v == nil || store == nil {
		return nil, errors.New("new acceptor: verifier and store are required")
	}
	return &Acceptor{verifier: v, policy: policy, store: store}, nil
}

// Policy returns the acceptor's policy.
func (ac *Acceptor) Policy() Policy { return ac.policy }

// Accept runs the pipeline on a raw envelope, in order: signatures, chains
// to a pinned root, roles and revocation (trust.Verifier); payload type;
// publisher signature; decoding and validation; expiry; rollback; k distinct
// supernode co-signatures; equivocation. Only an announcement that passes
// all of them is recorded, so a rejected one never advances the highest
// version seen. Errors match trust.ErrUntrusted, except ErrDuplicate.
func (ac *Acceptor) Accept(raw []byte) (*Accepted, error) {
	acc, err := VerifyAnnouncement(ac.verifier, raw, ac.policy.Zone, ac.policy.Publishers)
	if err != nil {
		return nil, err
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	prior, err := ac.checkVersion(acc)
	if err != nil {
		return nil, err
	}
	if err := ac.checkQuorum(acc); err != nil {
		return nil, err
	}
	if prior != nil {
		return nil, ac.quarantine(*prior, acc)
	}
	rec := SeenRecord{ID: acc.Announcement.ID, Version: acc.Announcement.Patchnet.Version,
		Digest: acc.Digest, Signers: signerNames(acc.Envelope.Signers), At: ac.verifier.Now()}
	if err := ac.store.Put(rec); err != nil {
		return nil, fmt.Errorf("recording accepted announcement: %w", err)
	}
	return acc, nil
}

// VerifyAnnouncement runs the stateless half of the pipeline: envelope
// signatures and chains, payload type, at least publishers distinct
// publisher signers of zone, decoding and validation, expiry. Supernodes use
// it before co-signing; Accept continues with rollback, quorum and
// equivocation.
func VerifyAnnouncement(v *trust.Verifier, raw []byte, zone string, publishers int) (*Accepted, error) {
	ve, err := v.VerifyEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("accepting announcement: %w", err)
	}
	if ve.PayloadType != PayloadType {
		return nil, fmt.Errorf("accepting announcement: %w: payload type %q, want %q", trust.ErrMalformed, clip(ve.PayloadType), PayloadType)
	}
	if err := ve.RequireSigners(trust.RolePublisher, zone, publishers); err != nil {
		return nil, fmt.Errorf("accepting announcement: publisher signature: %w", err)
	}
	a, err := DecodeAnnouncement(ve.Payload)
	if err != nil {
		return nil, fmt.Errorf("accepting announcement: %w: %w", trust.ErrMalformed, err)
	}
	now := v.Now()
	if !now.Before(a.Patchnet.Expires) {
		return nil, fmt.Errorf("accepting announcement %s version %d: %w: expired at %s (now %s)", a.ID, a.Patchnet.Version,
			trust.ErrExpired, a.Patchnet.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return &Accepted{Announcement: a, Envelope: ve, Digest: sha256.Sum256(ve.Payload),
		Publishers: ve.SignersWith(trust.RolePublisher, zone), Supernodes: ve.SignersWith(trust.RoleSupernode, zone)}, nil
}

// checkVersion refuses a version below the highest seen (rollback) and an
// exact repeat (duplicate). A different payload under a version already seen
// is returned as prior, for equivocation once quorum is confirmed.
func (ac *Acceptor) checkVersion(acc *Accepted) (*SeenRecord, error) {
	id, version := acc.Announcement.ID, acc.Announcement.Patchnet.Version
	rec, found, err := ac.store.Get(id, version)
	if err != nil {
		return nil, fmt.Errorf("reading seen versions: %w", err)
	}
	if found && rec.Digest == acc.Digest {
		return nil, fmt.Errorf("accepting announcement %s version %d: %w", id, version, ErrDuplicate)
	}
	if found {
		return &rec, nil
	}
	highest, ok, err := ac.store.Highest(id)
	if err != nil {
		return nil, fmt.Errorf("reading seen versions: %w", err)
	}
	if ok && version <= highest {
		return nil, fmt.Errorf("accepting announcement %s: %w: version %d, already accepted version %d", id, trust.ErrRollback, version, highest)
	}
	return nil, nil
}

// checkQuorum wants Publishers publisher keys and Threshold supernode keys,
// with no key counted twice (a key holding both roles counts once).
func (ac *Acceptor) checkQuorum(acc *Accepted) error {
	p, k := ac.policy.Publishers, ac.policy.Threshold
	if err := acc.Envelope.RequireSigners(trust.RoleSupernode, ac.policy.Zone, k); err != nil {
		return fmt.Errorf("accepting announcement %s version %d: %w", acc.Announcement.ID, acc.Announcement.Patchnet.Version, err)
	}
	distinct := map[string]bool{}
	for _, id := range append(append([]trust.Identity{}, acc.Publishers...), acc.Supernodes...) {
		distinct[string(id.PeerID)] = true
	}
	if len(distinct) < p+k {
		return fmt.Errorf("accepting announcement %s version %d: %w: %d distinct keys sign as publisher or supernode, need %d (%d publisher + %d supernode, no key counted twice)",
			acc.Announcement.ID, acc.Announcement.Patchnet.Version, trust.ErrInsufficientSigners, len(distinct), p+k, p, k)
	}
	return nil
}

// quarantine records both sides of an equivocation and returns the error
// that carries the alert.
func (ac *Acceptor) quarantine(prior SeenRecord, acc *Accepted) error {
	alert := Alert{
		Kind: AlertEquivocation, ID: prior.ID, Version: prior.Version, At: ac.verifier.Now(),
		First:  AlertSide{Digest: prior.Digest, Signers: prior.Signers},
		Second: AlertSide{Digest: acc.Digest, Signers: signerNames(acc.Envelope.Signers)},
	}
	if err := ac.store.Quarantine(alert); err != nil {
		return fmt.Errorf("quarantining equivocation: %w", err)
	}
	return &EquivocationError{Alert: alert}
}

// signerNames describes signers for records and alerts: subject and peer ID.
func signerNames(ids []trust.Identity) []string {
	out := make([]string, 0, len(ids))
	for i, id := range ids {
		if i == MaxSignersRecorded {
			break
		}
		out = append(out, fmt.Sprintf("%s (%s, %s)", id.Subject, id.PeerID, rolesText(id.Roles)))
	}
	return out
}

func rolesText(roles []trust.Role) string {
	s := ""
	for i, r := range roles {
		if i > 0 {
			s += "+"
		}
		s += string(r)
	}
	return s
}

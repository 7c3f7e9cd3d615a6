package updates

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
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
	// Zone is the zone whose publishers and supernodes must sign: its name
	// bound to the root that owns it (trust.Verifier.BindZone), so a
	// federated partner's zone of the same name never counts.
	Zone trust.Zone
	// Threshold is k, the distinct supernode co-signatures required.
	Threshold int
	// Publishers is how many distinct publisher signatures are required.
	Publishers int
	// RequireCRL counts a signer only while current CRLs of its zone CA and
	// root are held (trust.Identity.CRLCurrent): a fresh node, or one an
	// attacker cut off from CRLs, cannot tell a revoked key from a good one.
	RequireCRL bool
}

// DefaultPolicy is a policy for zone: one publisher and two supernodes,
// CRLs required.
func DefaultPolicy(zone trust.Zone) Policy {
	return Policy{
		Zone:       zone,
		Threshold:  2,    // one compromised supernode alone cannot vouch
		Publishers: 1,    // the author of the update
		RequireCRL: true, // fail closed until revocation status is known
	}
}

// Validate names the first bad field.
func (p Policy) Validate() error {
	if err := trust.ValidateZoneName(p.Zone.Name); err != nil {
		return fmt.Errorf("policy.zone: %q: %w", p.Zone.Name, err)
	}
	if p.Zone.Root == (trust.Fingerprint{}) {
		return fmt.Errorf("policy.zone: %q is bound to no root", p.Zone.Name)
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
// publisher signature; decoding and validation; validity at this node's
// clock; rollback; k distinct supernode co-signatures; equivocation. Only
// an announcement that passes all of them is recorded, so a rejected one
// never advances the highest version seen. Errors match trust.ErrUntrusted,
// except ErrDuplicate.
func (ac *Acceptor) Accept(raw []byte) (*Accepted, error) {
	acc, err := VerifyAnnouncement(ac.verifier, raw, ac.policy.Zone, ac.policy.Publishers)
	if err != nil {
		return nil, err
	}
	return acc, ac.AcceptVerified(acc)
}

// AcceptVerified continues the pipeline on an announcement that passed
// VerifyAnnouncement or CheckAnnouncement: rollback, quorum, equivocation,
// and records it as seen.
func (ac *Acceptor) AcceptVerified(acc *Accepted) error {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if err := ac.check(acc); err != nil {
		return err
	}
	rec := SeenRecord{ID: acc.Announcement.ID, Version: acc.Announcement.Patchnet.Version,
		Digest: acc.Digest, Signers: signerNames(acc.Envelope.Signers), At: ac.verifier.Now()}
	if err := ac.store.Put(rec); err != nil {
		return fmt.Errorf("recording accepted announcement: %w", err)
	}
	return nil
}

// CheckVerified is AcceptVerified without recording: what an offline
// install asks before it installs, recording only once it succeeded, so a
// failed install leaves no rollback floor behind. An equivocation is still
// quarantined.
func (ac *Acceptor) CheckVerified(acc *Accepted) error {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.check(acc)
}

// CheckRetry is CheckVerified for an install that may be a retry (apply,
// offline or through the daemon): an announcement accepted before (same id,
// version and payload) passes again while it still makes k and its version
// is still the highest accepted for its id, so a failed install can be run
// again; an older one is a rollback.
func (ac *Acceptor) CheckRetry(acc *Accepted) error {
	err := ac.CheckVerified(acc)
	if !errors.Is(err, ErrDuplicate) {
		return err
	}
	a := acc.Announcement
	if err := QuorumError(acc, ac.policy); err != nil {
		return fmt.Errorf("accepting announcement %s again: %w", a.ID, err)
	}
	highest, ok, err := ac.store.Highest(a.ID)
	if err != nil {
		return fmt.Errorf("reading seen versions: %w", err)
	}
	if ok && highest != a.Patchnet.Version {
		return fmt.Errorf("accepting announcement %s again: %w: version %d was accepted before, but version %d has been accepted since",
			a.ID, trust.ErrRollback, a.Patchnet.Version, highest)
	}
	return nil
}

// check runs rollback, quorum and equivocation; callers hold ac.mu.
func (ac *Acceptor) check(acc *Accepted) error {
	prior, err := ac.checkVersion(acc)
	if err != nil {
		return err
	}
	if err := ac.checkQuorum(acc); err != nil {
		return err
	}
	if prior != nil {
		return ac.quarantine(*prior, acc)
	}
	return nil
}

// VerifyAnnouncement runs the stateless half of the pipeline on raw bytes:
// envelope signatures and chains, then CheckAnnouncement. Accept continues
// with rollback, quorum and equivocation.
func VerifyAnnouncement(v *trust.Verifier, raw []byte, zone trust.Zone, publishers int) (*Accepted, error) {
	ve, err := v.VerifyEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("accepting announcement: %w", err)
	}
	return CheckAnnouncement(v.Now(), ve, zone, publishers)
}

// CheckAnnouncement checks a verified envelope: payload type, at least
// publishers distinct publisher signers of zone, decoding and validation,
// and validity at now — the verifying node's clock, never a time the
// publisher chose: modified no later than now plus MaxClockSkew, expires
// in the future and at most MaxValidity (plus skew) away, a rollout that
// starts before it expires.
func CheckAnnouncement(now time.Time, ve *trust.VerifiedEnvelope, zone trust.Zone, publishers int) (*Accepted, error) {
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
	if err := checkValidity(a, now); err != nil {
		return nil, fmt.Errorf("accepting announcement %s version %d: %w", a.ID, a.Patchnet.Version, err)
	}
	return &Accepted{Announcement: a, Envelope: ve, Digest: sha256.Sum256(ve.Payload),
		Publishers: ve.SignersWith(trust.RolePublisher, zone), Supernodes: coSigners(ve, zone)}, nil
}

// coSigners are the supernodes of zone that signed, leaving out every key
// that also holds the publisher role: a co-signature vouches that someone
// other than the publisher checked the update, so a publisher key (stolen
// with the publisher's) never stands in for a supernode.
func coSigners(ve *trust.VerifiedEnvelope, zone trust.Zone) []trust.Identity {
	var out []trust.Identity
	for _, id := range ve.SignersWith(trust.RoleSupernode, zone) {
		if !id.HasRole(trust.RolePublisher) {
			out = append(out, id)
		}
	}
	return out
}

// CheckValidity bounds an announcement's life by now, the verifying
// node's clock (see CheckAnnouncement): for a payload checked once whose
// co-signatures keep arriving while time passes.
func CheckValidity(a *Announcement, now time.Time) error { return checkValidity(a, now) }

// checkValidity bounds an announcement's life by now.
func checkValidity(a *Announcement, now time.Time) error {
	p := a.Patchnet
	switch {
	case !now.Before(p.Expires):
		return fmt.Errorf("%w: expired at %s (now %s)", trust.ErrExpired, stamp(p.Expires), stamp(now))
	case a.Modified.After(now.Add(MaxClockSkew)):
		return fmt.Errorf("%w: modified %s is in the future (now %s, tolerated skew %s)", trust.ErrNotYetValid, stamp(a.Modified), stamp(now), MaxClockSkew)
	case p.Expires.After(now.Add(MaxValidity + MaxClockSkew)):
		return fmt.Errorf("%w: expires %s, more than %s from now %s", trust.ErrNotYetValid, stamp(p.Expires), MaxValidity, stamp(now))
	case p.Rollout != nil && !p.Rollout.NotBefore.IsZero() && !p.Rollout.NotBefore.Before(p.Expires):
		return fmt.Errorf("%w: rollout.not_before %s is not before expires %s: it could never be installed", trust.ErrMalformed, stamp(p.Rollout.NotBefore), stamp(p.Expires))
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

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

// checkQuorum wants Publishers publisher keys and Threshold co-signers:
// supernode keys that hold no publisher role (see coSigners), so no key is
// counted twice. With RequireCRL, a signer counts only while current CRLs
// of its zone CA and root are held.
func (ac *Acceptor) checkQuorum(acc *Accepted) error {
	return QuorumError(acc, ac.policy)
}

// QuorumError says why acc's signers do not make policy's quorum, or nil
// when they do.
func QuorumError(acc *Accepted, policy Policy) error {
	what := fmt.Sprintf("accepting announcement %s version %d", acc.Announcement.ID, acc.Announcement.Patchnet.Version)
	pubs, pubStale := countable(acc.Publishers, policy.RequireCRL)
	cos, coStale := countable(acc.Supernodes, policy.RequireCRL)
	stale := append(pubStale, coStale...)
	var err error
	switch {
	case len(pubs) < policy.Publishers:
		err = fmt.Errorf("%s: %w: %d of %d publisher signatures count%s", what, trust.ErrInsufficientSigners, len(pubs), policy.Publishers, staleText(stale))
	case len(cos) < policy.Threshold:
		err = fmt.Errorf("%s: %w: %d of %d supernode co-signatures count%s%s",
			what, trust.ErrInsufficientSigners, len(cos), policy.Threshold, publisherKeysText(acc, policy.Zone), staleText(stale))
	default:
		return nil
	}
	for _, r := range acc.Envelope.Rejected {
		err = fmt.Errorf("%w; %w", err, r) // say why the others did not count
	}
	return err
}

// publisherKeysText names the supernode signers left out because their
// keys also hold the publisher role.
func publisherKeysText(acc *Accepted, zone trust.Zone) string {
	n := len(acc.Envelope.SignersWith(trust.RoleSupernode, zone)) - len(acc.Supernodes)
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d supernode key(s) not counted: they also hold the publisher role, and a co-signer must be someone other than the publisher", n)
}

// countable splits signers into those that count and, with requireCRL,
// those whose revocation status is unknown (no current CRL held).
func countable(ids []trust.Identity, requireCRL bool) (counted, unknown []trust.Identity) {
	for _, id := range ids {
		if requireCRL && !id.CRLCurrent {
			unknown = append(unknown, id)
			continue
		}
		counted = append(counted, id)
	}
	return counted, unknown
}

// staleText names the signers that did not count for want of a CRL.
func staleText(ids []trust.Identity) string {
	if len(ids) == 0 {
		return ""
	}
	return fmt.Sprintf("; %d signer(s) not counted: no current CRL of their zone CA and root held yet (%s)", len(ids), strings.Join(subjectsOf(ids), ", "))
}

func subjectsOf(ids []trust.Identity) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Subject
	}
	return out
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
		out = append(out, SignerName(id))
	}
	return out
}

// SignerName describes one signer as seen records and alerts name it:
// subject, peer ID and roles.
func SignerName(id trust.Identity) string {
	return fmt.Sprintf("%s (%s, %s)", id.Subject, id.PeerID, rolesText(id.Roles))
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

// WithSigners returns a copy of acc whose signers are ve's: the same
// payload verified with other signatures (co-signatures merged from several
// messages). The announcement is not decoded again.
func (acc *Accepted) WithSigners(ve *trust.VerifiedEnvelope, zone trust.Zone) *Accepted {
	return &Accepted{Announcement: acc.Announcement, Envelope: ve, Digest: acc.Digest,
		Publishers: ve.SignersWith(trust.RolePublisher, zone), Supernodes: coSigners(ve, zone)}
}

// Recheck verifies acc again immediately before acting on it, against v's
// current CRLs and clock: every signer's chain (a signer revoked since, or
// whose certificate expired, stops counting), the announcement's validity,
// and policy's quorum over the signers that still count. An update that
// waited for a window or a rollout slot is not trusted on the strength of
// an old check.
func Recheck(v *trust.Verifier, acc *Accepted, policy Policy) (*Accepted, error) {
	re := RefreshSigners(v, acc, policy.Zone)
	a := acc.Announcement
	if err := checkValidity(a, v.Now()); err != nil {
		return nil, fmt.Errorf("checking %s version %d again: %w", a.ID, a.Patchnet.Version, err)
	}
	if err := QuorumError(re, policy); err != nil {
		return nil, fmt.Errorf("checking again: %w", err)
	}
	return re, nil
}

// RefreshSigners returns acc with each signer's chain verified again
// against v's current CRLs and clock (the signatures themselves were
// verified once and stay so): a signer revoked or expired since drops out
// with its reason in Rejected; one whose CRLs arrived since now counts.
func RefreshSigners(v *trust.Verifier, acc *Accepted, zone trust.Zone) *Accepted {
	ve := &trust.VerifiedEnvelope{PayloadType: acc.Envelope.PayloadType, Payload: acc.Envelope.Payload}
	for i, id := range acc.Envelope.Signers {
		fresh, err := v.VerifyChain(id.Certificate, nil)
		if err != nil {
			ve.Rejected = append(ve.Rejected, trust.SignatureError{Index: i, KeyID: id.Fingerprint.String(), Err: err})
			continue
		}
		ve.Signers = append(ve.Signers, fresh)
	}
	return acc.WithSigners(ve, zone)
}

// Quarantined reports the equivocation alert raised for id at version, if
// any: an equivocation found after acceptance voids the accepted payload
// too. Alerts of other kinds (a conflicting co-signature short of k) hold
// only their own payload aside, never the version.
func Quarantined(store SeenStore, id string, version uint64) (*Alert, error) {
	alerts, err := store.Alerts()
	if err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	for _, a := range alerts {
		if a.Kind == AlertEquivocation && a.ID == id && a.Version == version {
			return &a, nil
		}
	}
	return nil, nil
}

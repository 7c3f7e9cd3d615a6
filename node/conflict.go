package node

import (
	"context"
	"slices"
	"sync"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// EventConflictingCoSignature: a supernode of the zone co-signed a payload
// for an id and version for which this agent accepted (or holds, co-signed)
// another payload; the conflicting one is short of k. It is held aside
// (never installed) once the other is accepted; the other is not blocked.
const EventConflictingCoSignature EventKind = "conflicting-co-signature"

// reasonConflicting is the Reason of EventConflictingCoSignature events.
const reasonConflicting = "conflicting-co-signature"

// conflictSet is what an agent holds of the payloads it caught conflicting
// with another co-signed payload of the same id and version, short of a
// quorum (an equivocation with a quorum is the acceptor's: the whole version
// is quarantined). Each payload is held once, by digest: a copy that
// arrives again is no news and raises no second alert. It also holds the
// supernodes caught co-signing both sides: proof made by their own keys,
// which honest supernodes never make (they co-sign one payload per id and
// version), so their signatures stop counting for every update on this
// agent until their certificate changes (the set is keyed by certificate
// fingerprint and kept in memory only: a restart forgets it, and the next
// copy of the conflicting payload proves it again).
type conflictSet struct {
	// gate serialises screening and merging a payload with accepting one,
	// so that a payload is screened either before its rival was accepted
	// (and is then held aside by quarantineRivals) or after.
	gate sync.Mutex

	mu         sync.Mutex
	held       map[payloadKey]*conflict
	order      []payloadKey // oldest first, at most MaxConflictingPayloads
	distrusted map[trust.Fingerprint]string
	dorder     []trust.Fingerprint // oldest first, at most MaxDistrustedSigners
}

// conflict is one conflicting payload and the alert told about it.
type conflict struct {
	checked     *updates.Accepted
	quarantined bool     // held aside; else contested, in the merge buffer
	sigs        []signed // quarantined: every verified signature seen
	named       map[trust.Fingerprint]bool
	alert       updates.Alert
}

func newConflictSet() *conflictSet {
	return &conflictSet{held: map[payloadKey]*conflict{}, distrusted: map[trust.Fingerprint]string{}}
}

// isDistrusted reports whether fp's holder was caught equivocating.
func (c *conflictSet) isDistrusted(fp trust.Fingerprint) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.distrusted[fp]
	return ok
}

// distrust adds ids to the distrusted signers, the oldest forgotten first.
func (c *conflictSet) distrust(ids []trust.Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if _, ok := c.distrusted[id.Fingerprint]; ok {
			continue
		}
		if len(c.dorder) == MaxDistrustedSigners {
			delete(c.distrusted, c.dorder[0])
			c.dorder = c.dorder[1:]
		}
		c.distrusted[id.Fingerprint] = updates.SignerName(id)
		c.dorder = append(c.dorder, id.Fingerprint)
	}
}

// quarantinedSigs returns the signatures of k's payload if it is held
// aside.
func (c *conflictSet) quarantinedSigs(k payloadKey) ([]signed, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.held[k]; ok && e.quarantined {
		return slices.Clone(e.sigs), true
	}
	return nil, false
}

// adds reports whether s would add a signer to k's payload held aside (true
// for any payload not held aside): the validator's test, before verifying,
// that a copy is not merely one seen before.
func (c *conflictSet) adds(k payloadKey, s trust.Signature) bool {
	fp, err := trust.ParseFingerprint(s.KeyID)
	if err != nil {
		return true // malformed: verification will say so
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.held[k]
	return !ok || !e.quarantined || !slices.ContainsFunc(e.sigs, func(o signed) bool { return o.id.Fingerprint == fp })
}

// record holds k's payload with its latest alert (quarantined: with sigs)
// and reports whether that is news to tell: a payload not held before, one
// held aside that was only contested, or a co-signer not named before.
func (c *conflictSet) record(k payloadKey, checked *updates.Accepted, sigs []signed, alert updates.Alert, quarantined bool,
	cosigners []trust.Identity) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.held[k]
	if !ok {
		if len(c.order) == MaxConflictingPayloads {
			delete(c.held, c.order[0])
			c.order = c.order[1:]
		}
		e = &conflict{checked: checked, named: map[trust.Fingerprint]bool{}}
		c.held[k] = e
		c.order = append(c.order, k)
	}
	news := !ok || quarantined && !e.quarantined
	for _, id := range cosigners {
		if !e.named[id.Fingerprint] {
			// A supernode joining a payload held aside is news; one joining
			// a contested payload is the honest side gathering its quorum.
			e.named[id.Fingerprint], news = true, news || quarantined
		}
	}
	if quarantined {
		e.quarantined = true
		e.sigs = mergeSigned(e.sigs, sigs)
	}
	if news {
		// Equivocators caught earlier stay named: they are distrusted still.
		for _, name := range e.alert.Equivocators {
			if !slices.Contains(alert.Equivocators, name) {
				alert.Equivocators = append(alert.Equivocators, name)
			}
		}
		e.alert = alert
	}
	return news
}

// heldFor returns the payloads held aside for id at version other than
// k's, as sides.
func (c *conflictSet) heldFor(id string, version uint64, k payloadKey, zone trust.Zone) []side {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []side
	for _, o := range c.order {
		e := c.held[o]
		a := e.checked.Announcement
		if o != k && e.quarantined && a.ID == id && a.Patchnet.Version == version {
			out = append(out, side{key: o, alert: e.alert.Second, cosigners: signerNames(coSignersOf(e.checked, e.sigs, zone))})
		}
	}
	return out
}

// checked returns the announcement checked for k's payload if it is held
// aside: a copy bringing another co-signature is not checked again.
func (c *conflictSet) checked(k payloadKey) *updates.Accepted {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.held[k]; ok && e.quarantined {
		return e.checked
	}
	return nil
}

// nameEquivocators adds names to the equivocators of k's held payload, if
// any, so that status shows them.
func (c *conflictSet) nameEquivocators(k payloadKey, names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.held[k]
	if !ok {
		return
	}
	for _, name := range names {
		if !slices.Contains(e.alert.Equivocators, name) {
			e.alert.Equivocators = append(e.alert.Equivocators, name)
		}
	}
}

// release forgets k's payload: it made k on its own, and is the
// acceptor's to quarantine as an equivocation.
func (c *conflictSet) release(k payloadKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[k]; !ok {
		return
	}
	delete(c.held, k)
	c.order = slices.DeleteFunc(c.order, func(o payloadKey) bool { return o == k })
}

// alerts is the latest alert of every payload held, oldest first.
func (c *conflictSet) alerts() []updates.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]updates.Alert, 0, len(c.order))
	for _, k := range c.order {
		out = append(out, c.held[k].alert)
	}
	return out
}

// mergeSigned is a with the signatures of b by signers a lacks, at most
// trust.MaxSignatures.
func mergeSigned(a, b []signed) []signed {
	out := slices.Clone(a)
	for _, s := range b {
		if len(out) < trust.MaxSignatures && !slices.ContainsFunc(out, func(o signed) bool { return o.id.Fingerprint == s.id.Fingerprint }) {
			out = append(out, s)
		}
	}
	return out
}

// withSigned is checked with sigs' signers, distrusted ones left out.
func (n *Node) withSigned(checked *updates.Accepted, sigs []signed) *updates.Accepted {
	ve := &trust.VerifiedEnvelope{PayloadType: checked.Envelope.PayloadType, Payload: checked.Envelope.Payload}
	for _, s := range sigs {
		if !n.conflicts.isDistrusted(s.id.Fingerprint) {
			ve.Signers = append(ve.Signers, s.id)
		}
	}
	return checked.WithSigners(ve, n.zone)
}

// side is another payload of an id and version: the one accepted, one
// buffered or one held aside.
type side struct {
	key       payloadKey // zero for the accepted one (known by its seen record)
	alert     updates.AlertSide
	cosigners []string // names of its supernode co-signers
	accepted  bool
}

// sides are the payloads of checked's id and version other than k's (its
// own) that supernodes co-signed: the one accepted (rec, if found), those
// buffered, those held aside.
func (n *Node) sides(checked *updates.Accepted, k payloadKey, rec updates.SeenRecord, found bool) []side {
	a := checked.Announcement
	id, version := a.ID, a.Patchnet.Version
	var out []side
	if found && rec.Digest != checked.Digest {
		out = append(out, side{alert: updates.AlertSide{Digest: rec.Digest, Signers: rec.Signers}, cosigners: rec.Signers, accepted: true})
	}
	for _, r := range n.merge.rivals(id, version, k) {
		if len(r.Accepted.Supernodes) > 0 && !(found && r.Accepted.Digest == rec.Digest) {
			out = append(out, side{key: keyOf(r.Envelope), alert: updates.AlertSide{Digest: r.Accepted.Digest,
				Signers: signerNames(r.Accepted.Envelope.Signers)}, cosigners: signerNames(r.Accepted.Supernodes)})
		}
	}
	return append(out, n.conflicts.heldFor(id, version, k, n.zone)...)
}

// screen runs on an agent for a checked payload before it is merged, under
// conflicts.gate. A payload with a supernode co-signature that conflicts
// with the payload accepted for its id and version, short of k, is held
// aside: alerted once, never merged (held is true, with the verdict). One
// that conflicts with another co-signed payload merely buffered is alerted
// too, and merged (both wait: the one to make k first wins, and which is
// honest cannot be told before; an attacker who sends first must not make
// the honest payload the one held aside). Supernodes that co-signed two of
// them stop counting, whichever side their second co-signature is on. A
// payload that makes k on its own goes on to the acceptor: accepted, or
// the version quarantined (updates.EquivocationError).
func (n *Node) screen(k payloadKey, checked *updates.Accepted, verified []signed) (_ overlay.Verdict, held bool) {
	a := checked.Announcement
	rec, found, err := n.agent.seen.Get(a.ID, a.Patchnet.Version)
	if err != nil {
		n.log.Warn("reading seen versions", "id", a.ID, "err", err)
		return overlay.Ignore, true
	}
	var prior *updates.SeenRecord
	if found && rec.Digest != checked.Digest {
		prior = &rec
	}
	kept, quarantined := n.conflicts.quarantinedSigs(k)
	sigs := kept
	if !quarantined {
		sigs = n.merge.signedOf(k)
	}
	sigs = mergeSigned(sigs, verified)
	others := n.sides(checked, k, rec, found)
	eq, other := n.catchEquivocators(n.withSigned(checked, sigs).Supernodes, others)
	p2 := n.withSigned(checked, sigs)
	this := updates.AlertSide{Digest: checked.Digest, Signers: signedNames(sigs)}
	switch {
	case found && prior == nil:
		// The accepted payload: only a co-signer caught signing another.
		if len(eq) > 0 {
			n.tellEquivocators(a, this, other, eq)
		}
		return 0, false
	case len(others) == 0 || len(coSignersOf(checked, sigs, n.zone)) == 0:
		return overlay.Ignore, quarantined // nothing conflicts (yet)
	case updates.QuorumError(p2, n.policy) == nil:
		// k supernodes vouch for it, those caught signing both left out:
		// accepted now (its rivals held aside then), or the acceptor's
		// equivocation. Those caught are told of all the same.
		if len(eq) > 0 {
			n.tellEquivocators(a, this, other, eq)
		}
		n.conflicts.release(k)
		if quarantined {
			n.merge.add(k, checked, kept) // the validator merges verified
		}
		return 0, false
	}
	return n.hold(k, checked, sigs, others[0], prior != nil, len(eq) > 0)
}

// hold records k's conflicting payload, short of k, against other: held
// aside if other is the accepted payload (taken out of the merge buffer,
// not relayed, not kept for catch-up), else contested (merged, waiting
// like other). It alerts when that is news or caught a co-signer signing
// both.
func (n *Node) hold(k payloadKey, checked *updates.Accepted, sigs []signed, other side, aside, caught bool) (overlay.Verdict, bool) {
	a := checked.Announcement
	alert := updates.Alert{Kind: updates.AlertConflictingCoSignature, ID: a.ID, Version: a.Patchnet.Version, At: n.verifier.Now(),
		First: other.alert, Second: updates.AlertSide{Digest: checked.Digest, Signers: signedNames(sigs)}, Contested: !aside,
		Equivocators: n.caught(checked, sigs)}
	if aside {
		sigs = mergeSigned(sigs, n.merge.take(k))
	}
	if n.conflicts.record(k, checked, sigs, alert, aside, coSignersOf(checked, sigs, n.zone)) || caught {
		n.raiseConflict(alert)
	}
	if !aside {
		return 0, false
	}
	return overlay.Ignore, true
}

// tellEquivocators alerts that eq, co-signers of this payload, co-signed
// other too, and names them in other's record if it is held.
func (n *Node) tellEquivocators(a *updates.Announcement, this updates.AlertSide, other side, eq []trust.Identity) {
	alert := updates.Alert{Kind: updates.AlertConflictingCoSignature, ID: a.ID, Version: a.Patchnet.Version, At: n.verifier.Now(),
		First: this, Second: other.alert, Contested: !other.accepted, Equivocators: signerNames(eq)}
	if other.accepted {
		alert.First, alert.Second = other.alert, this
	}
	n.conflicts.nameEquivocators(other.key, alert.Equivocators)
	n.raiseConflict(alert)
}

// quarantineRivals holds aside, once acc was accepted, every payload
// buffered for its id and version that a supernode co-signed: they can no
// longer be accepted, and each is told as a conflicting co-signature.
// Called under conflicts.gate.
func (n *Node) quarantineRivals(acc *updates.Accepted, k payloadKey) {
	a := acc.Announcement
	accepted := updates.AlertSide{Digest: acc.Digest, Signers: signerNames(acc.Envelope.Signers)}
	for _, r := range n.merge.rivals(a.ID, a.Patchnet.Version, k) {
		rk := keyOf(r.Envelope)
		sigs := n.merge.signedOf(rk)
		cos := coSignersOf(r.Accepted, sigs, n.zone)
		if len(cos) == 0 {
			continue // nobody vouches for it: it will never make k
		}
		sigs = n.merge.take(rk)
		n.catchEquivocators(cos, []side{{cosigners: signerNames(acc.Supernodes)}})
		alert := updates.Alert{Kind: updates.AlertConflictingCoSignature, ID: a.ID, Version: a.Patchnet.Version, At: n.verifier.Now(),
			First: accepted, Second: updates.AlertSide{Digest: r.Accepted.Digest, Signers: signedNames(sigs)},
			Equivocators: n.caught(r.Accepted, sigs)}
		if n.conflicts.record(rk, r.Accepted, sigs, alert, true, cos) {
			n.raiseConflict(alert)
		}
	}
}

// catchEquivocators distrusts the co-signers among cos that also co-signed
// one of others, and returns them and the first such other payload.
func (n *Node) catchEquivocators(cos []trust.Identity, others []side) ([]trust.Identity, side) {
	var eq []trust.Identity
	var first side
	for _, id := range cos {
		name := updates.SignerName(id)
		for _, o := range others {
			if slices.Contains(o.cosigners, name) {
				if eq == nil {
					first = o
				}
				eq = append(eq, id)
				break
			}
		}
	}
	n.conflicts.distrust(eq)
	return eq, first
}

// caught names the co-signers among sigs caught signing two payloads of
// one update version, now or before.
func (n *Node) caught(checked *updates.Accepted, sigs []signed) []string {
	var out []string
	for _, id := range coSignersOf(checked, sigs, n.zone) {
		if n.conflicts.isDistrusted(id.Fingerprint) {
			out = append(out, updates.SignerName(id))
		}
	}
	return out
}

// raiseConflict tells of a conflicting co-signature: an event (logged as a
// warning, counted) and an alert through [notify].
func (n *Node) raiseConflict(alert updates.Alert) {
	n.emit(Event{Kind: EventConflictingCoSignature, ID: alert.ID, Version: alert.Version, Signers: alert.Second.Signers,
		Detail: alert.String(), Reason: reasonConflicting})
	n.notify(context.Background(), updates.Notification{Alert: &alert})
}

// coSignersOf are the supernodes of zone whose signatures are among sigs,
// counted as acceptance counts them (no publisher keys), distrusted or not.
func coSignersOf(checked *updates.Accepted, sigs []signed, zone trust.Zone) []trust.Identity {
	ve := &trust.VerifiedEnvelope{PayloadType: checked.Envelope.PayloadType, Payload: checked.Envelope.Payload}
	for _, s := range sigs {
		ve.Signers = append(ve.Signers, s.id)
	}
	return checked.WithSigners(ve, zone).Supernodes
}

// signerNames names ids as alerts do.
func signerNames(ids []trust.Identity) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, updates.SignerName(id))
	}
	return out
}

// signedNames names the signers of sigs as alerts do.
func signedNames(sigs []signed) []string {
	out := make([]string, 0, len(sigs))
	for _, s := range sigs {
		out = append(out, updates.SignerName(s.id))
	}
	return out
}

// Conflicts lists the conflicting co-signed payloads this agent holds (the
// latest alert of each, oldest first): held aside (quarantined) or, while
// no side is accepted, contested.
func (n *Node) Conflicts() []updates.Alert {
	if n.agent == nil {
		return nil
	}
	return n.conflicts.alerts()
}

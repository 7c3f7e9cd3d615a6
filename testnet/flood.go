package testnet

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
	"github.com/patchnet/patchnet/updates"
)

// What the flood scenario's peer sends, the same in every mode: a peer
// outside the zone's PKI that forges announcements (Forger) and, once it
// heard a real one, sends it again in every shape that adds nothing
// (Replays). Receivers must drop all of it and score the sender down.

// Forger makes forged announcements for one zone: junk, and envelopes
// signed by an impostor publisher and supernode whose certificates chain
// to an impostor root for the zone's name, which no node pins.
type Forger struct {
	signers []impostor
	n       int
}

// impostor is one forged signer: its key and chain (leaf, zone CA).
type impostor struct {
	key   crypto.Signer
	chain []*x509.Certificate
}

// NewForger makes the impostor PKI for zone: a root, a zone CA and two
// leaves, a publisher and a supernode.
func NewForger(zone string) (*Forger, error) {
	// Each CA outlasts what it issues: certificates keep whole seconds.
	now := time.Now()
	rootV, zoneV, v := ca.ValidityFrom(now, 3), ca.ValidityFrom(now, 2), ca.ValidityFrom(now, 1)
	_, rootKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("forger: generating the impostor root's key: %w", err)
	}
	root, err := ca.NewRoot(rootKey, "impostor root", rootV)
	if err != nil {
		return nil, fmt.Errorf("forger: %w", err)
	}
	_, zoneKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("forger: generating the impostor zone CA's key: %w", err)
	}
	zoneCert, err := root.NewZone(zoneKey.Public(), zone, trust.AllRoles, zoneV)
	if err != nil {
		return nil, fmt.Errorf("forger: %w", err)
	}
	zoneCA := &ca.Authority{Cert: zoneCert, Key: zoneKey}
	f := &Forger{}
	for _, role := range []trust.Role{trust.RolePublisher, trust.RoleSupernode} {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("forger: generating the impostor %s's key: %w", role, err)
		}
		leaf, err := zoneCA.NewLeaf(key.Public(), trust.Membership{Zone: zone, Roles: []trust.Role{role}}, v)
		if err != nil {
			return nil, fmt.Errorf("forger: %w", err)
		}
		f.signers = append(f.signers, impostor{key: key, chain: []*x509.Certificate{leaf, zoneCert}})
	}
	return f, nil
}

// Next is the next forgery, in turn: junk of an envelope's size; an
// envelope signed by the impostors; and, once the flooder heard a real
// announcement (real, its envelope), that envelope with one byte of its
// payload changed under its signatures (tampered: none verifies). The
// impostors sign real's payload, or a made-up announcement while real is
// nil.
func (f *Forger) Next(real *trust.Envelope) ([]byte, error) {
	f.n++
	switch {
	case f.n%3 == 1:
		junk := make([]byte, ForgeryBytes)
		rand.Read(junk)
		return junk, nil
	case f.n%3 == 0 && real != nil:
		return tampered(real)
	}
	var payload []byte
	if real != nil {
		payload = real.Payload
	} else {
		var err error
		if payload, err = madeUp(f.n); err != nil {
			return nil, err
		}
	}
	env := trust.NewEnvelope(updates.PayloadType, payload)
	for _, s := range f.signers {
		if err := env.Sign(s.key, s.chain); err != nil {
			return nil, fmt.Errorf("forger: %w", err)
		}
	}
	return env.Marshal()
}

// tampered is env with one byte of its payload changed (env itself is
// left as it is).
func tampered(env *trust.Envelope) ([]byte, error) {
	if len(env.Payload) == 0 {
		return nil, fmt.Errorf("forger: the announcement's payload is empty: nothing to tamper with")
	}
	t := *env
	t.Payload = slices.Clone(env.Payload)
	t.Payload[len(t.Payload)/2] ^= 0x01
	return t.Marshal()
}

// madeUp is the payload of a made-up announcement: the shape of one, for
// an update no publisher issued.
func madeUp(n int) ([]byte, error) {
	a := map[string]any{
		"id": fmt.Sprintf("FORGED-%d", n), "modified": time.Now().UTC(),
		"summary": "an update no publisher issued",
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("forger: encoding a made-up announcement: %w", err)
	}
	return b, nil
}

// Replays are copies of the real envelope env that add nothing to a node
// that holds it, yet each verifies: subsets of its signatures, each
// signature in any of three forms (with its whole chain, its leaf alone,
// no certificate) and maybe in several at once — each another message
// (its ID names the signatures' forms) — at most MaxReplays of them; then
// the same envelope indented (another encoding, the same message). None
// is a forgery: only a node's budget for copies that add nothing stops
// them.
func Replays(env *trust.Envelope) ([][]byte, error) {
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("replays: the envelope carries no signature")
	}
	var out [][]byte
	for _, set := range subsets(signatureForms(env.Signatures), MaxReplays) {
		v := trust.NewEnvelope(env.PayloadType, env.Payload)
		v.Signatures = set
		b, err := v.Marshal()
		if err != nil {
			return nil, fmt.Errorf("replays: %w", err)
		}
		out = append(out, b)
	}
	indented, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("replays: re-encoding: %w", err)
	}
	return append(out, indented), nil
}

// signatureForms is each signature with its whole chain, its leaf alone
// and no certificate (the forms that differ).
func signatureForms(sigs []trust.Signature) []trust.Signature {
	var out []trust.Signature
	for _, s := range sigs {
		leaf, none := s, s
		leaf.Certificates, none.Certificates = s.Certificates[:min(1, len(s.Certificates))], nil
		out = append(out, s)
		if len(leaf.Certificates) < len(s.Certificates) {
			out = append(out, leaf)
		}
		if len(s.Certificates) > 0 {
			out = append(out, none)
		}
	}
	return out
}

// subsets are up to limit non-empty subsets of items (of its first
// MaxReplayItems), in order, none larger than trust.MaxSignatures.
func subsets(items []trust.Signature, limit int) [][]trust.Signature {
	items = items[:min(len(items), MaxReplayItems)]
	var out [][]trust.Signature
	for mask := 1; mask < 1<<len(items) && len(out) < limit; mask++ {
		var set []trust.Signature
		for i, s := range items {
			if mask&(1<<i) != 0 {
				set = append(set, s)
			}
		}
		if len(set) <= trust.MaxSignatures {
			out = append(out, set)
		}
	}
	return out
}

// HeardAnnouncement yields the first message on sub from a peer other
// than self that is a signed announcement envelope with a payload, parsed.
func HeardAnnouncement(ctx context.Context, sub *pubsub.Subscription, self peer.ID) <-chan *trust.Envelope {
	heard := make(chan *trust.Envelope, 1)
	go func() {
		defer sub.Cancel()
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if m.ReceivedFrom == self {
				continue
			}
			env, err := trust.ParseEnvelope(m.Data)
			if err == nil && env.PayloadType == updates.PayloadType && len(env.Signatures) > 0 && len(env.Payload) > 0 {
				heard <- env
				return
			}
		}
	}()
	return heard
}

// Flood sends, rate times a second, the next of f's forgeries on forger
// and, once heard yields a real announcement, the next of its Replays on
// replayer, until every replay is sent; replaying(n) is told how many
// there are. It returns how many of each it sent. rate is 1 to
// MaxFloodRate.
func Flood(ctx context.Context, f *Forger, forger, replayer *pubsub.Topic, heard <-chan *trust.Envelope, rate int, replaying func(int)) (forged, replayed int, err error) {
	if rate < 1 || rate > MaxFloodRate {
		return 0, 0, fmt.Errorf("flood: rate %d: want 1 to %d messages a second", rate, MaxFloodRate)
	}
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	var real *trust.Envelope
	var replays [][]byte
	for real == nil || replayed < len(replays) {
		select {
		case <-ctx.Done():
			if real == nil {
				return forged, replayed, fmt.Errorf("flood: no announcement heard (%d forgeries sent): %w", forged, ctx.Err())
			}
			return forged, replayed, fmt.Errorf("flood: cut short after %d forgeries and %d of %d replays: %w", forged, replayed, len(replays), ctx.Err())
		case real = <-heard:
			if replays, err = Replays(real); err != nil {
				return forged, replayed, err
			}
			replaying(len(replays))
		case <-t.C:
		}
		msg, err := f.Next(real)
		if err == nil {
			err = forger.Publish(ctx, msg)
		}
		if err != nil {
			return forged, replayed, fmt.Errorf("flood: sending forgery %d: %w", forged+1, err)
		}
		forged++
		if replayed < len(replays) {
			if err := replayer.Publish(ctx, replays[replayed]); err != nil {
				return forged, replayed, fmt.Errorf("flood: sending replay %d: %w", replayed+1, err)
			}
			replayed++
		}
	}
	return forged, replayed, nil
}

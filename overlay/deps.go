package overlay

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
)

// Verdict is the node's decision on one gossip message or catch-up item.
type Verdict int

const (
	// Accept delivers the message and relays it.
	Accept Verdict = iota
	// Reject drops a forged or malformed message and lowers the score of
	// the peer that delivered it.
	Reject
	// Ignore drops a message that is well formed but not wanted (stale,
	// duplicate, superseded) without blaming the peer that relayed it.
	Ignore
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// pubsubResult maps a verdict onto gossipsub's. An unknown verdict is a bug
// in the node; it becomes Ignore so the message is neither delivered nor
// relayed, and no honest relay is penalised for it.
func (v Verdict) pubsubResult() pubsub.ValidationResult {
	switch v {
	case Accept:
		return pubsub.ValidationAccept
	case Reject:
		return pubsub.ValidationReject
	}
	return pubsub.ValidationIgnore
}

// MessageValidator decides whether bytes that arrived by gossip or catch-up
// are delivered. The node implements it with trust.Verifier; the overlay
// never decides trust itself. from is the peer that delivered the bytes to
// this node (a relay, not necessarily their author).
//
// With Accept it returns the verified value it made of data (nil if it has
// none): the overlay carries it to subscribers as Message.Verified (pubsub's
// ValidatorData), so nothing after the validator parses or verifies the
// bytes again.
type MessageValidator interface {
	ValidateMessage(ctx context.Context, topic string, from peer.ID, data []byte) (Verdict, any)
}

// ValidatorFunc adapts a function to MessageValidator.
type ValidatorFunc func(ctx context.Context, topic string, from peer.ID, data []byte) (Verdict, any)

// ValidateMessage calls f.
func (f ValidatorFunc) ValidateMessage(ctx context.Context, topic string, from peer.ID, data []byte) (Verdict, any) {
	return f(ctx, topic, from, data)
}

// Authenticator verifies the certificate chain a peer presented in the
// admission exchange: the chain must lead to a pinned root, be unrevoked, and
// its leaf key must be p's key. The node implements it with
// trust.Verifier.VerifyPeer. The overlay additionally requires, in a private
// zone, that the identity belongs to the configured zone.
type Authenticator interface {
	AuthenticatePeer(p peer.ID, chainDER [][]byte) (trust.Identity, error)
}

// AuthenticatorFunc adapts a function, such as (*trust.Verifier).VerifyPeer,
// to Authenticator.
type AuthenticatorFunc func(p peer.ID, chainDER [][]byte) (trust.Identity, error)

// AuthenticatePeer calls f.
func (f AuthenticatorFunc) AuthenticatePeer(p peer.ID, chainDER [][]byte) (trust.Identity, error) {
	return f(p, chainDER)
}

// Deps are what the node supplies: trust decisions, this node's certificate
// chain, and the store catch-up serves from.
type Deps struct {
	// Validator decides every gossip message and catch-up item. Required.
	Validator MessageValidator
	// Authenticator verifies peers' chains. Required in a private zone; in
	// a public zone without one, every peer stays unverified.
	Authenticator Authenticator
	// Chain is this node's certificate chain in DER, leaf first, presented
	// to peers in the admission exchange. Empty: this node stays
	// unverified to its peers (and cannot join a private zone).
	Chain [][]byte
	// Store holds the signed items this node serves to peers catching up.
	// Default: an in-memory store.
	Store ItemStore
	// Logger receives connection and admission events. Default: discard.
	Logger *slog.Logger
	// MessageID names a gossip message by what it means, so re-encoded
	// copies of one message are duplicates that gossipsub drops before
	// validation. It must be cheap (no signature checks) and must never
	// fail: fall back to a hash of data. Default: SHA-256 of data.
	MessageID func(topic string, data []byte) [32]byte
	// OnBootstrap, when set, is told the outcome of each round of dials to
	// the bootstrap peers not connected yet (rounds that dial none are not
	// reported), so the node can raise an alarm when it reaches none of
	// them. It must return quickly.
	OnBootstrap func(BootstrapRound)
	// HostOptions are extra libp2p options applied after the overlay's own
	// when it builds the host. Only testnet/sim sets them, to run the
	// production host (resource and connection managers, gater, QUIC) over
	// its simulated network's sockets; production never does.
	HostOptions []libp2p.Option
}

// BootstrapRound is the outcome of one round of bootstrap dials.
type BootstrapRound struct {
	// Dialled is how many bootstrap peers were dialled (those connected
	// already are not); Failed how many of those dials failed.
	Dialled, Failed int
	// Connected is how many peers this node is connected to after the
	// round, bootstrap peers or not.
	Connected int
	// Err joins the failed dials' errors, each naming its address.
	Err error
}

func (d *Deps) check(cfg Config) error {
	if d.Validator == nil {
		return fmt.Errorf("overlay deps: validator: nil: every message must be validated")
	}
	if cfg.PrivateZone.Enabled() && d.Authenticator == nil {
		return fmt.Errorf("overlay deps: authenticator: nil: a private zone (zone %q) admits only authenticated peers", cfg.Zone)
	}
	if len(d.Chain) > MaxAuthChainCerts {
		return fmt.Errorf("overlay deps: chain: %d certificates, at most %d", len(d.Chain), MaxAuthChainCerts)
	}
	if d.Store == nil {
		d.Store = NewMemoryStore(DefaultKeep())
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.MessageID == nil {
		d.MessageID = func(_ string, data []byte) [32]byte { return sha256.Sum256(data) }
	}
	return nil
}

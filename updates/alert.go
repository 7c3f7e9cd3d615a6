package updates

import (
	"fmt"
	"strings"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// Alert kinds.
const (
	// AlertEquivocation is the kind of alert raised when two co-signed
	// announcements share an id and version but differ in content, the
	// second with a quorum of its own: the whole version is quarantined.
	AlertEquivocation = "equivocation"
	// AlertConflictingCoSignature is the kind of alert raised when a
	// supernode of the zone co-signs a payload for an id and version for
	// which another co-signed payload is held, the conflicting one short of
	// a quorum: that payload is held aside (never installed), the other
	// one is not blocked.
	AlertConflictingCoSignature = "conflicting-co-signature"
)

// Alert is something an operator must look at. It names both payloads and
// who signed each, so the compromised or misbehaving signers can be found
// (they signed both sides, or the side nobody else did).
type Alert struct {
	Kind    string    `json:"kind"`
	ID      string    `json:"id"`
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
	// First is what was accepted (or, when Contested, the payload held
	// first); Second is the conflicting payload, which was quarantined
	// (recorded, never acted on).
	First  AlertSide `json:"first"`
	Second AlertSide `json:"second"`
	// Contested (conflicting co-signatures only) means neither payload is
	// accepted yet: both wait for k co-signatures, the first to make k is
	// accepted and the other quarantined.
	Contested bool `json:"contested,omitempty"`
	// Equivocators are the supernodes that co-signed both payloads: proof
	// by their own keys that they are compromised. Their co-signatures no
	// longer count.
	Equivocators []string `json:"equivocators,omitempty"`
}

// AlertSide is one payload of an equivocation and its signers.
type AlertSide struct {
	Digest  Digest   `json:"digest"`
	Signers []string `json:"signers"`
}

// String is a one-paragraph account for logs and notifications.
func (a Alert) String() string {
	if a.Kind != AlertConflictingCoSignature {
		return fmt.Sprintf("%s: %s version %d has two co-signed payloads: accepted %s signed by [%s]; quarantined %s signed by [%s]",
			a.Kind, a.ID, a.Version, a.First.Digest, strings.Join(a.First.Signers, "; "),
			a.Second.Digest, strings.Join(a.Second.Signers, "; "))
	}
	var b strings.Builder
	if a.Contested {
		fmt.Fprintf(&b, "%s: %s version %d has two payloads co-signed by supernodes, neither by k yet: %s signed by [%s]; %s signed by [%s]; "+
			"both wait, the first to make k is accepted and the other quarantined",
			a.Kind, a.ID, a.Version, a.First.Digest, strings.Join(a.First.Signers, "; "), a.Second.Digest, strings.Join(a.Second.Signers, "; "))
	} else {
		fmt.Fprintf(&b, "%s: %s version %d: quarantined %s, short of k, signed by [%s], conflicts with accepted %s signed by [%s]",
			a.Kind, a.ID, a.Version, a.Second.Digest, strings.Join(a.Second.Signers, "; "), a.First.Digest, strings.Join(a.First.Signers, "; "))
	}
	if len(a.Equivocators) > 0 {
		fmt.Fprintf(&b, "; co-signed both, so their co-signatures no longer count: [%s]", strings.Join(a.Equivocators, "; "))
	}
	return b.String()
}

// EquivocationError is returned by Accept for a quarantined announcement.
// It matches trust.ErrEquivocation (and so trust.ErrUntrusted).
type EquivocationError struct {
	Alert Alert
}

// Error names both sides and their signers.
func (e *EquivocationError) Error() string {
	return "accepting announcement: " + trust.ErrEquivocation.Error() + ": " + e.Alert.String()
}

// Unwrap exposes trust.ErrEquivocation.
func (e *EquivocationError) Unwrap() error { return trust.ErrEquivocation }

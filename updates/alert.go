package updates

import (
	"fmt"
	"strings"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// AlertEquivocation is the kind of alert raised when two co-signed
// announcements share an id and version but differ in content.
const AlertEquivocation = "equivocation"

// Alert is something an operator must look at. For an equivocation it names
// both payloads and who signed each, so the compromised or misbehaving
// signers can be found (they signed both sides, or the side nobody else did).
type Alert struct {
	Kind    string    `json:"kind"`
	ID      string    `json:"id"`
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
	// First is what was accepted; Second is the conflicting payload, which
	// was quarantined (recorded, never acted on).
	First  AlertSide `json:"first"`
	Second AlertSide `json:"second"`
}

// AlertSide is one payload of an equivocation and its signers.
type AlertSide struct {
	Digest  Digest   `json:"digest"`
	Signers []string `json:"signers"`
}

// String is a one-paragraph account for logs and notifications.
func (a Alert) String() string {
	return fmt.Sprintf("%s: %s version %d has two co-signed payloads: accepted %s signed by [%s]; quarantined %s signed by [%s]",
		a.Kind, a.ID, a.Version, a.First.Digest, strings.Join(a.First.Signers, "; "),
		a.Second.Digest, strings.Join(a.Second.Signers, "; "))
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

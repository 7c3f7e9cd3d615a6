package install

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// State is where a transaction is. The order of the non-terminal states is
// the order of the work; recovery resolves any of them to a terminal state.
type State string

// Transaction states.
const (
	// StatePrepared: recorded, nothing looked at or changed yet.
	StatePrepared State = "prepared"
	// StateBeforeSaved: the before-state is kept; nothing changed yet.
	StateBeforeSaved State = "before-saved"
	// StateInstalling: the installer may be running or may have run.
	StateInstalling State = "installing"
	// StateInstalled: the installer finished and the host is at the goal;
	// bookkeeping remains.
	StateInstalled State = "installed"
	// StateCommitted: done; the host is at the goal.
	StateCommitted State = "committed"
	// StateFailed: the install failed or was interrupted, and the host is at
	// the before-state (restored, or never changed).
	StateFailed State = "failed"
	// StateBroken: the host is at neither state for certain (restore failed
	// or the installer cannot tell); an alert says what to check.
	StateBroken State = "broken"
)

// Terminal reports whether s is final.
func (s State) Terminal() bool {
	return s == StateCommitted || s == StateFailed || s == StateBroken
}

// Transaction kinds.
const (
	KindInstall  = "install"
	KindRollback = "rollback"
	// KindPrune is a retention record: the kept files it deletes, each
	// with why and how many bytes, journalled before the first is deleted.
	KindPrune = "prune"
)

// Step is one state change with its time.
type Step struct {
	State State     `json:"state"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}

// ArtifactRef records the verified artifact a transaction installed.
type ArtifactRef struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Path   string `json:"path"`
}

// Transaction is one journalled install or rollback.
type Transaction struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// RollbackOf is the transaction a rollback undid; RolledBackBy is set on
	// that transaction when the rollback commits.
	RollbackOf   string `json:"rollback_of,omitempty"`
	RolledBackBy string `json:"rolled_back_by,omitempty"`
	Plan         Plan   `json:"plan"`
	Root         string `json:"root"`
	// Artifact is empty for a rollback, which installs a kept before-state.
	Artifact ArtifactRef `json:"artifact,omitzero"`
	// Goal is the state the transaction drives the host to; Before is what
	// it restores on failure (and what a later rollback restores).
	Goal   Goal      `json:"goal"`
	Before Before    `json:"before"`
	State  State     `json:"state"`
	Steps  []Step    `json:"steps"`
	Error  string    `json:"error,omitempty"`
	Tools  []ToolUse `json:"tools,omitempty"`
	Alerts []Alert   `json:"alerts,omitempty"`
	// Recovered is set when crash recovery, not the original run, finished
	// the transaction.
	Recovered bool   `json:"recovered,omitempty"`
	Log       string `json:"log,omitempty"`
	// Pruned lists what a prune record deletes (KindPrune only).
	Pruned []PrunedFile `json:"pruned,omitempty"`
	// PrunedBy is the prune record that deleted this transaction's kept
	// files: a before-state with files (a package file, a tree, a script)
	// can then no longer be rolled back to.
	PrunedBy string `json:"pruned_by,omitempty"`
}

// Started is the time of the first step.
func (tx *Transaction) Started() time.Time {
	if len(tx.Steps) == 0 {
		return time.Time{}
	}
	return tx.Steps[0].At
}

// Outcome is one line for a person.
func (tx *Transaction) Outcome() string {
	if tx.Kind == KindPrune {
		return pruneOutcome(tx)
	}
	switch tx.State {
	case StateCommitted:
		if tx.RolledBackBy != "" {
			return "installed " + tx.Goal.String() + ", rolled back by " + tx.RolledBackBy
		}
		return "installed " + tx.Goal.String()
	case StateFailed:
		return "failed, host left at the before-state: " + tx.Error
	case StateBroken:
		return "BROKEN, needs attention: " + tx.Error
	default:
		return "in progress (" + string(tx.State) + ")"
	}
}

// step moves tx to state s and records when.
func (tx *Transaction) step(s State, at time.Time, note string) {
	tx.State = s
	if len(tx.Steps) < MaxSteps {
		tx.Steps = append(tx.Steps, Step{State: s, At: at.UTC(), Note: note})
	}
}

// txIDPattern is the shape of transaction ids: UTC time to the microsecond,
// then random hex, so ids sort by time and never collide.
var txIDPattern = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}\.[0-9]{6}-[0-9a-f]{6}$`)

// newTxID makes a time-sortable id.
func newTxID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102-150405.000000") + "-" + hex.EncodeToString(b[:])
}

// CheckTxID refuses anything that is not a transaction id, so a typo or a
// path never reaches the store.
func CheckTxID(id string) error {
	if !txIDPattern.MatchString(id) {
		return fmt.Errorf("transaction id %q: want the form 20060102-150405.000000-abcdef (see patchnet history)", clipText(id))
	}
	return nil
}

// encodeTransaction is the journal's record format. A record that would
// pass MaxTransactionBytes keeps the tail of its log (sanitised, with a
// note of what was dropped) so the step is still journalled.
func encodeTransaction(tx *Transaction) ([]byte, error) {
	b, err := marshalTransaction(tx)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxTransactionBytes && tx.Log != "" {
		c := *tx
		c.Log = string(sanitizeLog([]byte(c.Log)))
		if b, err = marshalTransaction(&c); err != nil {
			return nil, err
		}
		if len(b) > MaxTransactionBytes {
			c.Log = logTail(c.Log, MaxTransactionBytes-(len(b)-jsonTextLen(c.Log)))
			if b, err = marshalTransaction(&c); err != nil {
				return nil, err
			}
		}
	}
	if len(b) > MaxTransactionBytes {
		return nil, fmt.Errorf("encoding transaction %s: %d bytes, more than %d", tx.ID, len(b), MaxTransactionBytes)
	}
	return b, nil
}

// marshalTransaction encodes tx without HTML escaping, which would make
// every '<', '>' and '&' of a log six bytes.
func marshalTransaction(tx *Transaction) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tx); err != nil {
		return nil, fmt.Errorf("encoding transaction %s: %w", tx.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// logTail keeps the longest tail of a sanitised log that, with a note of
// what was dropped, encodes to at most budget bytes of JSON text.
func logTail(log string, budget int) string {
	const note, noteRoom = "[%d bytes of log dropped to fit the journal]\n", 64
	i, used := len(log), 0
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(log[:i])
		n := jsonRuneLen(r, size)
		if used+n > budget-noteRoom {
			break
		}
		used += n
		i -= size
	}
	return fmt.Sprintf(note, i) + log[i:]
}

// jsonTextLen is how many bytes s takes inside a JSON string, as
// marshalTransaction writes it.
func jsonTextLen(s string) int {
	n := 0
	for _, r := range s {
		n += jsonRuneLen(r, utf8.RuneLen(r))
	}
	return n
}

// jsonRuneLen is the encoded size of one character of size bytes: six for
// what encoding/json writes as \uXXXX, two for the short escapes.
func jsonRuneLen(r rune, size int) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t' || r == '\b' || r == '\f':
		return 2
	case r < 0x20 || r == utf8.RuneError || r == '\u2028' || r == '\u2029':
		return 6
	default:
		return size
	}
}

// decodeTransaction reads a journal record strictly: an unknown field or a
// bad id means the record is not one this code wrote.
func decodeTransaction(b []byte) (*Transaction, error) {
	if len(b) > MaxTransactionBytes {
		return nil, fmt.Errorf("decoding transaction: %d bytes, more than %d", len(b), MaxTransactionBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var tx Transaction
	if err := dec.Decode(&tx); err != nil {
		return nil, fmt.Errorf("decoding transaction: %w", err)
	}
	if err := CheckTxID(tx.ID); err != nil {
		return nil, fmt.Errorf("decoding transaction: %w", err)
	}
	if tx.State == "" {
		return nil, fmt.Errorf("decoding transaction %s: no state", tx.ID)
	}
	return &tx, nil
}

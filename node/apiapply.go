package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// POST /v1/apply is `patchnet apply` run by the daemon that holds the
// state directory: the client hands over the envelope's bytes (and the
// path of the artifact file, if it has one); the daemon verifies them with
// its own verifier, pinned roots, CRLs and acceptance policy, as if they
// had come by gossip (nothing the client decided is trusted), and runs its
// one install workflow with apply's hooks: no waiting for a window unless
// asked, the artifact from the given file or fetched from peers and the
// vendor. Each step is streamed back as one JSON line (APIApplyEvent), the
// last one with Done set. A client that hangs up does not cut the install
// short. Only the socket's owner can reach it (the socket is 0600 in an
// owner-only directory), so reading the artifact file the client names
// grants it nothing it did not have.

// APIApplyPath is the apply endpoint.
const APIApplyPath = "/v1/apply"

// APIError codes of the apply endpoint.
const (
	APICodeUntrusted = "untrusted" // verification or acceptance refused the envelope (trust.ErrUntrusted)
	APICodeNotAgent  = "not-agent" // the node installs nothing: it has no agent role
)

// APIApplyRequest is the body of POST /v1/apply.
type APIApplyRequest struct {
	// Envelope is the signed announcement, as its file holds it.
	Envelope []byte `json:"envelope"`
	// Artifact is the absolute path of the artifact file; "" has the
	// daemon fetch it (peers, then the vendor URLs).
	Artifact string `json:"artifact,omitempty"`
	// Prefix is the target directory of an archive update whose package
	// has no [install.prefixes] entry.
	Prefix string `json:"prefix,omitempty"`
	// Mode overrides the respond mode: apply, notify or log.
	Mode string `json:"mode,omitempty"`
	// IgnoreWindow installs now even outside the maintenance window.
	IgnoreWindow bool `json:"ignore_window,omitempty"`
}

// validate names the first bad field.
func (r APIApplyRequest) validate() error {
	switch {
	case len(r.Envelope) == 0:
		return errors.New("apply request: envelope is empty")
	case r.Artifact != "" && !filepath.IsAbs(r.Artifact):
		return fmt.Errorf("apply request: artifact %q is not an absolute path", r.Artifact)
	case r.Prefix != "" && !filepath.IsAbs(r.Prefix):
		return fmt.Errorf("apply request: prefix %q is not an absolute path", r.Prefix)
	}
	switch updates.Mode(r.Mode) {
	case "", updates.ModeApply, updates.ModeNotify, updates.ModeLog:
		return nil
	}
	return fmt.Errorf("apply request: mode %q is not apply, notify or log", r.Mode)
}

// APIApplyEvent is one line of the answer to POST /v1/apply: exactly one
// of its parts is set.
type APIApplyEvent struct {
	// Accepted comes first: the daemon's verifier and acceptance passed.
	Accepted *APIApplyAccepted `json:"accepted,omitempty"`
	// Say is a progress line for people (the artifact being fetched or
	// verified).
	Say string `json:"say,omitempty"`
	// Decision is the respond decision, after the request's Mode.
	Decision *updates.Decision `json:"decision,omitempty"`
	// Step is one step of the workflow.
	Step *APIApplyStep `json:"step,omitempty"`
	// Done ends the answer; Error and Code say why the apply failed, if it
	// did (a refused or failed install, a failed fetch).
	Done  bool   `json:"done,omitempty"`
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

// APIApplyAccepted is what the daemon accepted, and where it installs.
type APIApplyAccepted struct {
	ID             string   `json:"id"`
	Version        uint64   `json:"version"`
	Summary        string   `json:"summary,omitempty"`
	RebootRequired bool     `json:"reboot_required,omitempty"`
	Publishers     []string `json:"publishers"`
	Supernodes     []string `json:"supernodes"`
	// Sysroot is the daemon's: where it matches and installs.
	Sysroot string `json:"sysroot"`
}

// APIApplyStep is a workflow Step on the wire.
type APIApplyStep struct {
	Kind   EventKind            `json:"kind"`
	Detail string               `json:"detail,omitempty"`
	At     time.Time            `json:"at,omitzero"`
	Match  *updates.MatchResult `json:"match,omitempty"`
	Tx     *install.Transaction `json:"tx,omitempty"`
	// Error is the step's error (refused, failed); Code is
	// APICodeUntrusted when it is a verification failure.
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

// Is lets an *APIError of code APICodeUntrusted match trust.ErrUntrusted,
// so a verification failure reported by the daemon is the sentinel it is.
func (e *APIError) Is(target error) bool {
	return target == trust.ErrUntrusted && e.Code == APICodeUntrusted
}

// apply answers POST /v1/apply.
func (a *apiServer) apply(w http.ResponseWriter, r *http.Request) {
	var req APIApplyRequest
	if status, err := decodeAPIBody(w, r, &req, MaxAPIApplyBytes); err != nil {
		code := APICodeBadRequest
		if status == http.StatusRequestEntityTooLarge {
			code = APICodeTooLarge
		}
		writeAPIError(w, status, code, err.Error())
		return
	}
	if err := req.validate(); err != nil {
		writeAPIError(w, http.StatusBadRequest, APICodeBadRequest, err.Error())
		return
	}
	if a.n.agent == nil {
		writeAPIError(w, http.StatusNotFound, APICodeNotAgent, fmt.Sprintf("this node (%s) installs nothing: it is no agent", a.n.RoleText()))
		return
	}
	if !a.enter() {
		writeAPIError(w, http.StatusServiceUnavailable, APICodeShuttingDown, "the node is shutting down")
		return
	}
	defer a.busy.Done()
	acc, err := a.n.checkForApply(req.Envelope)
	if err != nil {
		status, code := http.StatusInternalServerError, APICodeFailed
		if errors.Is(err, trust.ErrUntrusted) {
			status, code = http.StatusUnprocessableEntity, APICodeUntrusted
		}
		writeAPIError(w, status, code, err.Error())
		return
	}
	out := newApplyStream(w)
	out.send(APIApplyEvent{Accepted: acceptedOf(acc, a.n.cfg.Sysroot)})
	done := APIApplyEvent{Done: true}
	if err := a.n.applyVerified(context.WithoutCancel(r.Context()), acc, req, out); err != nil {
		done.Error, done.Code = err.Error(), APICodeFailed
		if errors.Is(err, trust.ErrUntrusted) {
			done.Code = APICodeUntrusted
		}
	}
	out.send(done)
}

// acceptedOf is the first line of an apply's answer.
func acceptedOf(acc *updates.Accepted, sysroot string) *APIApplyAccepted {
	a := acc.Announcement
	return &APIApplyAccepted{ID: a.ID, Version: a.Patchnet.Version, Summary: a.Summary, RebootRequired: a.Patchnet.RebootRequired,
		Publishers: subjects(acc.Publishers), Supernodes: subjects(acc.Supernodes), Sysroot: sysroot}
}

// checkForApply verifies raw with this node's verifier and runs its
// acceptance without recording it, as `patchnet apply` does offline: an
// envelope accepted before passes again while its version is the highest
// accepted for its id (so a failed install can be retried), an older one
// is a rollback.
func (n *Node) checkForApply(raw []byte) (*updates.Accepted, error) {
	acc, err := updates.VerifyAnnouncement(n.verifier, raw, n.zone, n.cfg.Publishers)
	if err != nil {
		return nil, err
	}
	if err := n.agent.acceptor.CheckRetry(acc); err != nil {
		return nil, err
	}
	return acc, nil
}

// applyVerified runs the agent's workflow on acc with apply's hooks,
// streaming each step to out, and records acc as accepted (its rollback
// floor) unless the install was refused or failed, as offline apply does.
func (n *Node) applyVerified(ctx context.Context, acc *updates.Accepted, req APIApplyRequest, out *applyStream) error {
	var failed error
	report := func(acc *updates.Accepted, s Step) {
		out.send(APIApplyEvent{Step: wireStep(s)})
		if s.Kind == EventFailed || s.Kind == EventRefusedInstall {
			failed = s.Err
		}
		n.emitAPIStep(acc.Announcement, s)
	}
	flow := n.agent.flow.WithHooks(WorkflowHooks{
		Report: report,
		Decide: func(d *updates.Decision) {
			if req.Mode != "" {
				d.Mode, d.Reason = updates.Mode(req.Mode), "--mode "+req.Mode
			}
			out.send(APIApplyEvent{Decision: d})
		},
		Wait: func(context.Context, time.Time) error {
			if req.IgnoreWindow {
				return nil
			}
			return ErrNotNow
		},
		Fetch:  n.apiFetch(req.Artifact, out),
		Notify: n.notify,
	})
	if req.Prefix != "" {
		flow.Prefixes = map[string]string{"*": req.Prefix}
		for k, v := range n.cfg.Install.Prefixes {
			flow.Prefixes[k] = v
		}
	}
	err := flow.Run(ctx, acc)
	switch {
	case errors.Is(err, ErrNotNow):
	case err != nil:
		return err
	case failed != nil:
		return failed // not recorded: a failed install leaves no rollback floor behind
	}
	if err := n.agent.acceptor.AcceptVerified(acc); err != nil && !errors.Is(err, updates.ErrDuplicate) {
		return fmt.Errorf("recording %s version %d as seen: %w", acc.Announcement.ID, acc.Announcement.Patchnet.Version, err)
	}
	return nil
}

// apiFetch is the Fetch hook of an apply through the API: the client's
// artifact file, or the daemon's own fetch from peers and the vendor.
func (n *Node) apiFetch(path string, out *applyStream) func(context.Context, *updates.Accepted) (string, func(), error) {
	return func(ctx context.Context, acc *updates.Accepted) (string, func(), error) {
		art := acc.Announcement.Patchnet.Artifact
		done := func() {}
		if path == "" {
			out.send(APIApplyEvent{Say: fmt.Sprintf("fetching %s from peers or its URLs ...", art.Name)})
			var err error
			if path, done, err = n.fetchArtifact(ctx, acc); err != nil {
				return "", nil, err
			}
		}
		out.send(APIApplyEvent{Say: fmt.Sprintf("verifying artifact %s (%d bytes, sha256 %s) ...", path, art.Size, art.SHA256)})
		return path, done, nil
	}
}

// emitAPIStep emits the outcome steps of an apply through the API as the
// daemon's events (logged, counted, told through [notify]); no lifecycle
// record is kept for them.
func (n *Node) emitAPIStep(a *updates.Announcement, s Step) {
	state, ok := stateOf[s.Kind]
	if !ok || s.Kind == EventAccepted {
		return
	}
	n.emit(Event{Kind: s.Kind, ID: a.ID, Version: a.Patchnet.Version, State: state, Published: publishedAt(a),
		Detail: s.Detail + " (patchnet apply through the local API)"})
}

// wireStep is s as an apply answer carries it.
func wireStep(s Step) *APIApplyStep {
	ws := &APIApplyStep{Kind: s.Kind, Detail: s.Detail, At: s.At, Match: s.Match, Tx: s.Tx}
	if s.Err != nil {
		ws.Error = s.Err.Error()
		if errors.Is(s.Err, trust.ErrUntrusted) {
			ws.Code = APICodeUntrusted
		}
	}
	return ws
}

// StepOf is the workflow Step an apply answer's step stands for; its Err
// is an *APIError matching trust.ErrUntrusted when the daemon's was a
// verification failure.
func (s *APIApplyStep) StepOf() Step {
	st := Step{Kind: s.Kind, Detail: s.Detail, At: s.At, Match: s.Match, Tx: s.Tx}
	if s.Error != "" {
		st.Err = &APIError{Message: s.Error, Code: s.Code}
	}
	return st
}

// applyStream writes an apply's answer one JSON line at a time, flushed,
// so the client prints each step as it happens. Writes after the client
// went away fail silently: the install goes on.
type applyStream struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	enc *json.Encoder
}

func newApplyStream(w http.ResponseWriter) *applyStream {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	return &applyStream{w: w, enc: json.NewEncoder(w)}
}

func (s *applyStream) send(e APIApplyEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enc.Encode(e) == nil {
		http.NewResponseController(s.w).Flush()
	}
}

// Apply has the daemon verify and install the envelope of req, calling on
// with each line of its answer as it comes, and returns the apply's error:
// the daemon's refusal of the envelope (an *APIError matching
// trust.ErrUntrusted when verification failed), or the error its last
// line carries. ctx bounds the wait, not the install.
func (c *APIClient) Apply(ctx context.Context, req APIApplyRequest, on func(APIApplyEvent)) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding apply request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, apiBase+APIApplyPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building apply request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		if noDaemon(err) {
			return fmt.Errorf("%w at %s: %w", ErrNoDaemon, c.socket, err)
		}
		return fmt.Errorf("asking the patchnet daemon at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxAPIRequestBytes+MaxAPIApplyBytes))
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e.Message = fmt.Sprintf("the patchnet daemon at %s answered %s", c.socket, resp.Status)
		}
		return e
	}
	return readApplyStream(resp.Body, c.socket, on)
}

// readApplyStream calls on with each line of an apply's answer and
// returns the error of its last; an answer cut off before it is an error.
func readApplyStream(r io.Reader, socket string, on func(APIApplyEvent)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxAPIResponseBytes)
	for sc.Scan() {
		var e APIApplyEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("decoding the apply answer of %s: %w", socket, err)
		}
		if e.Done {
			if e.Error != "" {
				return &APIError{Status: http.StatusOK, Message: e.Error, Code: e.Code}
			}
			return nil
		}
		on(e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the apply answer of %s: %w", socket, err)
	}
	return fmt.Errorf("the patchnet daemon at %s ended its apply answer early (did it stop? see `patchnet history`)", socket)
}

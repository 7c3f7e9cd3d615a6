package k8s

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/updates"
)

// The HTTP-origin baseline of a rendered zone, as netns runs it with curl
// in each agent's namespace: once the zone's agents installed the fix,
// every agent's pod downloads the same artifact from the vendor origin
// over HTTP at the same moment, no peers, under the same shaping, and the
// report puts that beside patchnet's delivery. A container in each agent
// pod (`patchnet testnet http-baseline`) waits for its own agent's
// install and registers at the origin's barrier; the origin releases
// every registered client at once when all have come (or BaselineWait
// after the first did), each times its download from the release to its
// last byte checked and posts the result; collect reads them. The
// origin serves the baseline's downloads under a path of their own and
// counts them apart from what it served the zone.
const (
	// BaselinePath answers GET with the baseline's BaselineState.
	BaselinePath = "/.patchnet/baseline"
	// BaselineFilesPath serves the origin's files to the baseline's
	// clients, counted as its egress.
	BaselineFilesPath = BaselinePath + "/files/"
	// baselineReadyPath registers a client (POST ?name=) and answers once
	// the barrier released it.
	baselineReadyPath = BaselinePath + "/ready"
	// baselineResultPath takes a client's BaselineResult (POST).
	baselineResultPath = BaselinePath + "/result"
)

// BaselineResult is one client's download.
type BaselineResult struct {
	// Name is the client's (its agent's pod).
	Name string `json:"name"`
	// TookNS is from the barrier's release to the last byte checked; 0
	// when it failed.
	TookNS int64 `json:"took_ns,omitempty"`
	// Bytes is what it received.
	Bytes int64 `json:"bytes"`
	// Error says why it did not get the artifact ("": it did).
	Error string `json:"error,omitempty"`
}

// Took is the download's time.
func (r BaselineResult) Took() time.Duration { return time.Duration(r.TookNS) }

// BaselineState is what the origin knows of the baseline.
type BaselineState struct {
	// Expected is how many clients the barrier waits for (0: the origin
	// runs no baseline).
	Expected int `json:"expected"`
	// Registered is how many came.
	Registered int `json:"registered"`
	// ReleasedAt is when the barrier let them go (zero: not yet).
	ReleasedAt time.Time `json:"released_at,omitzero"`
	// Results are the clients' reports, by name.
	Results []BaselineResult `json:"results"`
	// ServedBytes is what the origin served under BaselineFilesPath.
	ServedBytes int64 `json:"served_bytes"`
}

// Done reports whether every registered client reported after the
// release.
func (s BaselineState) Done() bool {
	return !s.ReleasedAt.IsZero() && len(s.Results) >= s.Registered
}

// Result is the baseline's delivery over agents: the clients that got
// the artifact, timed from the release.
func (s BaselineState) Result(agents int) testnet.Result {
	var times []time.Duration
	for _, r := range s.Results {
		if r.Error == "" && r.TookNS > 0 {
			times = append(times, r.Took())
		}
	}
	return testnet.Summarize(times, agents)
}

// barrier is the origin's side of the baseline.
type barrier struct {
	expected int
	wait     time.Duration
	served   atomic.Int64
	release  chan struct{}

	mu         sync.Mutex
	names      map[string]bool
	results    map[string]BaselineResult
	releasedAt time.Time
	timer      *time.Timer
}

// ExpectBaseline makes the origin run the HTTP baseline for clients
// clients: the barrier opens when all registered, or wait after the
// first did (an agent that never installs must not hold the others).
func (o *Origin) ExpectBaseline(clients int, wait time.Duration) error {
	if clients < 1 || clients > MaxAgents || wait <= 0 {
		return fmt.Errorf("baseline: %d clients within %v: want 1..%d and a positive wait", clients, wait, MaxAgents)
	}
	o.baseline = &barrier{expected: clients, wait: wait, release: make(chan struct{}),
		names: map[string]bool{}, results: map[string]BaselineResult{}}
	return nil
}

// serveBaseline answers the baseline's paths.
func (o *Origin) serveBaseline(w http.ResponseWriter, r *http.Request) {
	b := o.baseline
	if b == nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case r.URL.Path == BaselinePath && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(b.state())
	case r.URL.Path == baselineReadyPath && r.Method == http.MethodPost:
		b.ready(w, r)
	case r.URL.Path == baselineResultPath && r.Method == http.MethodPost:
		b.result(w, r)
	case strings.HasPrefix(r.URL.Path, BaselineFilesPath) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		http.StripPrefix(BaselineFilesPath[:len(BaselineFilesPath)-1], o.files).ServeHTTP(&countingWriter{ResponseWriter: w, n: &b.served}, r)
	default:
		http.Error(w, "no such baseline path or method", http.StatusNotFound)
	}
}

// ready registers the client named in the query and answers once the
// barrier released (or the client went away).
func (b *barrier) ready(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" || len(name) > maxBaselineName {
		http.Error(w, fmt.Sprintf("baseline: client name %q: want 1..%d bytes", name, maxBaselineName), http.StatusBadRequest)
		return
	}
	if err := b.register(name); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	select {
	case <-b.release:
		w.WriteHeader(http.StatusOK)
	case <-r.Context().Done():
	}
}

// register adds name, opening the barrier once all came; the first
// starts the wait.
func (b *barrier) register(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.names[name] {
		return nil // asked again (a retry): still the same client
	}
	if len(b.names) == b.expected {
		return fmt.Errorf("baseline: %d clients registered already, %q is one too many", b.expected, name)
	}
	b.names[name] = true
	if len(b.names) == 1 {
		b.timer = time.AfterFunc(b.wait, b.open)
	}
	if len(b.names) == b.expected {
		b.timer.Stop()
		b.openLocked()
	}
	return nil
}

// open releases every client, once.
func (b *barrier) open() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.openLocked()
}

func (b *barrier) openLocked() {
	if b.releasedAt.IsZero() {
		b.releasedAt = time.Now()
		close(b.release)
	}
}

// result records a registered client's report (its first: a client
// posting again after a lost answer says nothing new).
func (b *barrier) result(w http.ResponseWriter, r *http.Request) {
	var res BaselineResult
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBaselineResult+1))
	if err == nil && len(body) > maxBaselineResult {
		err = fmt.Errorf("longer than %d bytes", maxBaselineResult)
	}
	if err == nil {
		err = json.Unmarshal(body, &res)
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("baseline: reading a result: %v", err), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.names[res.Name]:
		http.Error(w, fmt.Sprintf("baseline: result of %q, which never registered", res.Name), http.StatusConflict)
		return
	case b.releasedAt.IsZero():
		http.Error(w, fmt.Sprintf("baseline: result of %q before the release", res.Name), http.StatusConflict)
		return
	}
	if _, ok := b.results[res.Name]; !ok {
		b.results[res.Name] = res
	}
	w.WriteHeader(http.StatusNoContent)
}

// state is the barrier as BaselineState, results by name.
func (b *barrier) state() BaselineState {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BaselineState{Expected: b.expected, Registered: len(b.names), ReleasedAt: b.releasedAt, ServedBytes: b.served.Load(),
		Results: make([]BaselineResult, 0, len(b.results))}
	for _, res := range b.results {
		s.Results = append(s.Results, res)
	}
	slices.SortFunc(s.Results, func(a, b BaselineResult) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// BaselineClient is one agent pod's part of the baseline.
type BaselineClient struct {
	// Origin is the vendor origin's URL prefix (Spec.OriginURL).
	Origin string
	// Name is the client's: its agent's pod.
	Name string
	// File is the artifact's name on the origin, Want its size and digest.
	File string
	Want updates.Want
}

// Run registers at the barrier (again after a failed try, until ctx
// ends), downloads the artifact once released, checking its size and
// SHA-256, and posts the result; the result is also returned. A failed
// download is a result too (not delivered), not an error.
func (c BaselineClient) Run(ctx context.Context) (BaselineResult, error) {
	base := strings.TrimSuffix(c.Origin, "/")
	if err := retryPost(ctx, base+baselineReadyPath+"?name="+url.QueryEscape(c.Name), nil); err != nil {
		return BaselineResult{}, fmt.Errorf("waiting at the baseline's barrier: %w", err)
	}
	start := time.Now()
	res := BaselineResult{Name: c.Name}
	h := sha256.New()
	n, err := updates.StreamURL(ctx, base+BaselineFilesPath+url.PathEscape(c.File), c.Want, 0, h, updates.FetchOptions{UserAgent: "patchnet-baseline"})
	res.Bytes = n
	if err == nil && [sha256.Size]byte(h.Sum(nil)) != c.Want.SHA256 {
		err = errors.New("the artifact's SHA-256 differs from the published one")
	}
	if err != nil {
		res.Error = err.Error()
	} else {
		res.TookNS = max(int64(time.Since(start)), 1)
	}
	body, _ := json.Marshal(res)
	if err := retryPost(ctx, base+baselineResultPath, body); err != nil {
		return res, fmt.Errorf("posting the baseline's result: %w", err)
	}
	return res, nil
}

// retryPost posts body to u until an answer 2xx, ctx ends or the origin
// refuses for good (a 4xx); a connection error or 5xx is tried again
// BaselineRetry later (the origin's pod may be restarting).
func retryPost(ctx context.Context, u string, body []byte) error {
	for {
		_, err := post(ctx, u, body)
		var refused *refusal
		if err == nil || errors.As(err, &refused) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last try: %v)", ctx.Err(), err)
		case <-time.After(BaselineRetry):
		}
	}
}

// refusal is a 4xx answer: asking again will not help.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// post posts body to u once and returns the answer's body, at most
// maxRawBody of it.
func post(ctx context.Context, u string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxRawBody))
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return nil, &refusal{msg: fmt.Sprintf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))}
	case resp.StatusCode >= 300:
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return msg, nil
}

// FetchBaseline reads the origin's BaselineState.
func FetchBaseline(ctx context.Context, originURL string) (BaselineState, error) {
	ctx, cancel := context.WithTimeout(ctx, CollectTimeout)
	defer cancel()
	var s BaselineState
	code, err := getJSON(ctx, strings.TrimSuffix(originURL, "/")+BaselinePath, &s)
	if code == http.StatusNotFound {
		return BaselineState{}, nil // an origin without a baseline
	}
	if err != nil {
		return s, fmt.Errorf("reading the HTTP baseline: %w", err)
	}
	return s, nil
}

// WaitBaseline polls the origin until its baseline is Done or ctx ends,
// telling progress what it read; an origin without a baseline returns
// at once (Expected 0).
func WaitBaseline(ctx context.Context, originURL string, progress func(BaselineState)) (BaselineState, error) {
	s, err := pollOrigin(ctx, func(ctx context.Context) (BaselineState, error) { return FetchBaseline(ctx, originURL) },
		func(s BaselineState) bool { return s.Expected == 0 || s.Done() }, progress)
	if err != nil && errors.Is(err, ctx.Err()) {
		return s, fmt.Errorf("waiting for the HTTP baseline (%d of %d clients registered, %d results): %w",
			s.Registered, s.Expected, len(s.Results), err)
	}
	return s, err
}

// pollOrigin reads the origin's state with fetch every BaselinePoll,
// telling progress what it read, until done holds or ctx ends; then the
// error is the last read's or ctx's.
func pollOrigin[S any](ctx context.Context, fetch func(context.Context) (S, error), done func(S) bool, progress func(S)) (S, error) {
	for {
		s, err := fetch(ctx)
		if err == nil && progress != nil {
			progress(s)
		}
		if err == nil && done(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return s, err
			}
			return s, ctx.Err()
		case <-time.After(BaselinePoll):
		}
	}
}

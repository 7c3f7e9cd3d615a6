package k8s

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/updates"
)

// baselineOrigin serves a directory holding fix.deb (size bytes) with
// the baseline's barrier for clients, opening wait after the first.
func baselineOrigin(t *testing.T, size, clients int, wait time.Duration) (*Origin, *httptest.Server, updates.Want) {
	t.Helper()
	dir := t.TempDir()
	data := bytes.Repeat([]byte("patchnet"), size/8)
	if err := os.WriteFile(filepath.Join(dir, "fix.deb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := NewOrigin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.ExpectBaseline(clients, wait); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return o, srv, updates.Want{Size: int64(len(data)), SHA256: sha256.Sum256(data)}
}

// runClients runs a BaselineClient per name at once and returns their
// results by name.
func runClients(t *testing.T, origin string, want updates.Want, file string, names ...string) map[string]BaselineResult {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]BaselineResult{}
	for _, name := range names {
		wg.Go(func() {
			res, err := BaselineClient{Origin: origin, Name: name, File: file, Want: want}.Run(t.Context())
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			mu.Lock()
			out[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// Three agents' clients register at the origin's barrier; none
// downloads before the last came; each gets the artifact under the
// baseline's own path, checks it and posts its time; the origin counts
// the three copies apart from what it served the zone, and collect's
// reading of it is every client delivered.
func TestHTTPBaselineReleasesAllAtOnce(t *testing.T) {
	o, srv, want := baselineOrigin(t, 64<<10, 3, time.Hour)
	early := make(chan map[string]BaselineResult)
	go func() { early <- runClients(t, srv.URL+"/", want, "fix.deb", "agent-0", "agent-1") }()
	waitState(t, srv.URL, func(s BaselineState) bool { return s.Registered == 2 })
	if s, _ := FetchBaseline(t.Context(), srv.URL); !s.ReleasedAt.IsZero() || s.ServedBytes != 0 {
		t.Fatalf("with 2 of 3 registered: %+v, want the barrier closed and nothing served", s)
	}
	last := runClients(t, srv.URL+"/", want, "fix.deb", "agent-2")
	results := <-early
	results["agent-2"] = last["agent-2"]
	for name, res := range results {
		if res.Error != "" || res.Bytes != want.Size || res.TookNS <= 0 {
			t.Errorf("%s: %+v, want the %d bytes, timed", name, res, want.Size)
		}
	}
	s, err := WaitBaseline(t.Context(), srv.URL, nil)
	if err != nil || !s.Done() {
		t.Fatalf("WaitBaseline: %+v, %v", s, err)
	}
	if s.ServedBytes != 3*want.Size || o.Served() != 0 {
		t.Errorf("baseline served %d, the zone's files %d: want %d and 0", s.ServedBytes, o.Served(), 3*want.Size)
	}
	if got := s.Result(3); got.Delivered != 1 || got.MaxMS <= 0 {
		t.Errorf("result %+v: want all 3 delivered", got)
	}
	if got := s.Result(4); got.Delivered != 0.75 {
		t.Errorf("result over 4 agents %+v: want 3 of 4 delivered", got)
	}
}

// A client whose bytes are not the published artifact reports that, not
// a time: it is not delivered. The barrier opens BaselineWait after the
// first client when the others never come.
func TestHTTPBaselineWrongBytesAndMissingClients(t *testing.T) {
	_, srv, want := baselineOrigin(t, 4<<10, 3, 200*time.Millisecond)
	wrong := want
	wrong.SHA256[0] ^= 1
	results := runClients(t, srv.URL, wrong, "fix.deb", "agent-0")
	res := results["agent-0"]
	if res.Error == "" || res.TookNS != 0 || !strings.Contains(res.Error, "SHA-256") {
		t.Errorf("a client of other bytes: %+v, want an error naming the SHA-256", res)
	}
	s, err := WaitBaseline(t.Context(), srv.URL, nil)
	if err != nil || s.Registered != 1 || s.Result(3).Delivered != 0 {
		t.Errorf("after the wait: %+v, %v; want 1 registered, none delivered", s, err)
	}
}

// The origin refuses a client past the expected number, a result of a
// client that never registered or posted before the release, a nameless
// client and an oversized result, each naming what is wrong; an origin
// without a baseline answers 404, which FetchBaseline reads as none.
func TestHTTPBaselineRefusals(t *testing.T) {
	_, srv, want := baselineOrigin(t, 1<<10, 1, time.Hour)
	runClients(t, srv.URL, want, "fix.deb", "agent-0")
	for _, tc := range []struct {
		path, body, want string
	}{
		{baselineReadyPath + "?name=agent-9", "", "one too many"},
		{baselineReadyPath, "", "client name"},
		{baselineResultPath, `{"name":"agent-9"}`, "never registered"},
		{baselineResultPath, `{"name":"agent-0","error":"` + strings.Repeat("x", maxBaselineResult) + `"}`, "longer than"},
		{baselineResultPath, `not json`, "reading a result"},
	} {
		_, err := post(t.Context(), srv.URL+tc.path, []byte(tc.body))
		var r *refusal
		if !errors.As(err, &r) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("POST %s: %v, want a refusal naming %q", tc.path, err, tc.want)
		}
	}
	o2, srv2, _ := baselineOrigin(t, 1<<10, 2, time.Hour)
	if err := o2.baseline.register("agent-0"); err != nil { // as its ready request would, which then blocks
		t.Fatal(err)
	}
	if _, err := post(t.Context(), srv2.URL+baselineResultPath, []byte(`{"name":"agent-0","took_ns":1}`)); err == nil || !strings.Contains(err.Error(), "before the release") {
		t.Errorf("a result before the release: %v, want it refused", err)
	}
	none, err := NewOrigin(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(none)
	defer plain.Close()
	if s, err := FetchBaseline(t.Context(), plain.URL); err != nil || s.Expected != 0 {
		t.Errorf("an origin without a baseline: %+v, %v; want none", s, err)
	}
	if err := none.ExpectBaseline(0, time.Hour); err == nil {
		t.Error("a baseline of 0 clients was taken")
	}
}

// waitState polls the origin until cond holds.
func waitState(t *testing.T, origin string, cond func(BaselineState) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		if s, err := FetchBaseline(ctx, origin); err == nil && cond(s) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the origin's baseline never got there")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Collect waits for the origin's baseline and reports it beside
// patchnet: http_origin and the baseline's egress.
func TestCollectReportsHTTPBaseline(t *testing.T) {
	_, srv, want := baselineOrigin(t, 8<<10, 2, time.Hour)
	runClients(t, srv.URL, want, "fix.deb", "agent-0", "agent-1")
	s, err := WaitBaseline(t.Context(), srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := buildReport(nil, 0, originEgress{baseline: s}, CollectOptions{UpdateID: "X", Agents: 2})
	got := rep.Results[testnet.ResultHTTPOrigin]
	if diff := cmp.Diff(s.Result(2), got); diff != "" || got.Delivered != 1 {
		t.Errorf("http_origin result (-want +got):\n%s", diff)
	}
	if rep.HTTPOriginEgressBytes != 2*want.Size {
		t.Errorf("HTTP baseline egress %d, want %d", rep.HTTPOriginEgressBytes, 2*want.Size)
	}
}

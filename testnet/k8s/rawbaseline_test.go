package k8s

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/testnet/rawgossip"
)

// rawOrigin is an origin running the raw baseline for peers raw peers.
func rawOrigin(t *testing.T, peers int) *httptest.Server {
	t.Helper()
	o, err := NewOrigin(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.ExpectRaw(t.Context(), peers); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return srv
}

// rawPeer is a raw gossip peer on a loopback TCP port for the test's life.
func rawPeer(t *testing.T) *rawgossip.Peer {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	p, err := rawgossip.New(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// nodeID is a fresh peer ID standing for a patchnet node's.
func nodeID(t *testing.T) string {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// A supernode's and two agents' raw peers, each told its node's
// neighbours (the supernode is connected to both agents, the agents not
// to each other), register at the origin, connect as their nodes are and
// report; the origin's own peer dials the supernode's and runs the
// rounds, of the median announcement size the agents registered, and its
// state gives every round's delivery to both agents.
func TestRawBaselineRoundsThroughOrigin(t *testing.T) {
	srv := rawOrigin(t, 3)
	ids := map[string]string{"sn": nodeID(t), "a1": nodeID(t), "a2": nodeID(t)}
	near := map[string][]string{"sn": {ids["a1"], ids["a2"]}, "a1": {ids["sn"]}, "a2": {ids["sn"]}}
	sizes := map[string]int{"a1": 7000, "a2": 9000} // a supernode's peer registers none
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, name := range []string{"sn", "a1", "a2"} {
		p := rawPeer(t)
		origin := srv.URL
		if name == "a2" {
			origin = clockAhead(t, srv.URL, time.Hour)
		}
		c := RawClient{Origin: origin, Name: name, Supernode: name == "sn", MessageBytes: sizes[name],
			Node: func(context.Context) (string, []string, error) { return ids[name], near[name], nil }}
		wg.Go(func() {
			if err := c.Run(ctx, p); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	wg.Wait()
	s, err := FetchRaw(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Done || s.Error != "" || s.Outcome == nil {
		t.Fatalf("the baseline: %+v, want done with an outcome", s)
	}
	if s.Registered != 3 || s.Agents != 2 {
		t.Errorf("%d registered, %d agents; want 3 and 2", s.Registered, s.Agents)
	}
	if s.MessageBytes != 9000 {
		t.Errorf("rounds of %d-byte messages, want the agents' median announcement, 9000", s.MessageBytes)
	}
	if len(s.Outcome.Rounds) != rawgossip.Rounds {
		t.Fatalf("%d rounds, want %d", len(s.Outcome.Rounds), rawgossip.Rounds)
	}
	for i, times := range s.Outcome.Rounds {
		if len(times) != 2 {
			t.Errorf("round %d reached %d of the 2 agents", i, len(times))
		}
		for _, d := range times {
			if d <= 0 || d > time.Minute {
				t.Errorf("round %d: a delivery %v after publication (a2's clock runs an hour ahead): want its offset taken off", i, d)
			}
		}
	}
}

// clockAhead fronts the origin at target as a raw peer whose clock runs d
// ahead of the origin's sees it and is seen by it: the deliveries it
// posts are d later than the origin's clock, the origin's time in each
// answer d earlier than its own. No clock here can be set wrong for one
// goroutine, so the skew is made at the seam, the HTTP exchange.
func clockAhead(t *testing.T, target string, d time.Duration) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		if r.URL.Path != rawReportPath {
			return
		}
		var rep RawReport
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &rep) == nil {
			for round, at := range rep.Got {
				rep.Got[round] = at + int64(d) // the peer's own clock, uncorrected
			}
			body, _ = json.Marshal(rep)
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != rawReportPath || resp.StatusCode != http.StatusOK {
			return nil
		}
		var ans RawAnswer
		body, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(body, &ans) == nil {
			ans.Now = ans.Now.Add(-d)
			body, _ = json.Marshal(ans)
		}
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	front := httptest.NewServer(rp)
	t.Cleanup(front.Close)
	return front.URL
}

// The origin refuses, naming what is wrong, a registration without a
// node ID or addresses, one with a message past the limit, one too many,
// and a report from a peer that never registered; before the start, the
// peers' list is not served.
func TestRawBaselineRefusesBadInput(t *testing.T) {
	srv := rawOrigin(t, 1)
	good := RawPeer{Name: "a1", NodeID: nodeID(t), Addrs: []string{"/ip4/127.0.0.1/tcp/1/p2p/" + nodeID(t)}}
	post := func(path string, v any) (int, string) {
		body, _ := json.Marshal(v)
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	resp, err := http.Get(srv.URL + rawPeersPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the peers' list before the start: %s, want 503", resp.Status)
	}
	noID, noAddrs, other, huge := good, good, good, good
	noID.NodeID, noAddrs.Addrs, other.Name, huge.MessageBytes = "nobody", nil, "a2", rawgossip.MaxMessageBytes+1
	for _, tc := range []struct {
		name, path string
		body       any
		code       int
		says       string
	}{
		{"bad node ID", rawRegisterPath, noID, http.StatusBadRequest, "node"},
		{"no addresses", rawRegisterPath, noAddrs, http.StatusBadRequest, "addresses"},
		{"message past the limit", rawRegisterPath, huge, http.StatusBadRequest, "message of"},
		{"not JSON", rawRegisterPath, "x", http.StatusBadRequest, "reading"},
		{"report before registering", rawReportPath, RawReport{Name: "a1"}, http.StatusConflict, "never"},
		{"registers", rawRegisterPath, good, http.StatusNoContent, ""},
		{"one too many", rawRegisterPath, other, http.StatusConflict, "too"},
	} {
		if code, msg := post(tc.path, tc.body); code != tc.code || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, code, msg, tc.code, tc.says)
		}
	}
}

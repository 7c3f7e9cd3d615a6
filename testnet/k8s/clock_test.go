package k8s

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
)

// A node whose clock runs an hour ahead of collect's is timed as one
// whose clock agrees: collect measures the offset around the status read
// and takes it off the node's times. No clock here can be set wrong for
// one process, so the skew is made at the seam: the real node's Proxy
// answers behind a handler that adds an hour to every time in its JSON,
// whatever the field. The same node read directly has no offset beyond
// the measurement's error, and none is taken off.
func TestCollectTakesOffANodesClockOffset(t *testing.T) {
	ctx := context.Background()
	const id = "TESTNET-K8S-CLOCK"
	l, _, published := publishedLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1, FakeInstaller: true}, id)
	a := l.Agents[0]
	var err error

	const skew = time.Hour
	proxy := Proxy(filepath.Join(a.Dir, "state"), ProxyOptions{})
	urls := map[string]string{}
	for name, h := range map[string]http.Handler{"true": proxy, "ahead": skewed(t, proxy, skew)} {
		srv := httptest.NewUnstartedServer(h)
		srv.Listener.Close()
		if srv.Listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(srv.Close)
		urls[name] = srv.URL
	}
	reports := map[string]*testnet.Report{}
	for name, u := range urls {
		rep, err := Collect(ctx, []string{u}, CollectOptions{UpdateID: id, Published: published, Threshold: 1, Agents: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Samples) != 1 || rep.Samples[0].Install <= 0 {
			t.Fatalf("%s clock: samples %+v, want the agent's install", name, rep.Samples)
		}
		reports[name] = rep
	}
	if off := reports["true"].ClockOffsetMaxMS; off != 0 {
		t.Errorf("the true clock: offset %v ms taken off, want none (within the read's error)", off)
	}
	if off := time.Duration(reports["ahead"].ClockOffsetMaxMS * float64(time.Millisecond)); (off - skew).Abs() > time.Minute {
		t.Errorf("the clock an hour ahead: offset %v measured, want about %v", off, skew)
	}
	truth, ahead := reports["true"].Samples[0], reports["ahead"].Samples[0]
	for _, st := range []struct {
		name        string
		truth, seen time.Duration
	}{{"receipt", truth.Receipt, ahead.Receipt}, {"accept", truth.Accept, ahead.Accept}, {"install", truth.Install, ahead.Install}} {
		if (st.seen - st.truth).Abs() > time.Minute {
			t.Errorf("%s at %v by the clock an hour ahead, %v by the true one: want the offset taken off", st.name, st.seen, st.truth)
		}
	}
}

// skewed serves what h answers with every time in its JSON d later.
func skewed(t *testing.T, h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		b, err := json.Marshal(shiftTimes(v, d))
		if err != nil {
			t.Errorf("re-encoding a skewed answer: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		w.Write(b)
	})
}

// shiftTimes moves every RFC 3339 time in a decoded JSON value by d.
func shiftTimes(v any, d time.Duration) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = shiftTimes(e, d)
		}
	case []any:
		for i, e := range x {
			x[i] = shiftTimes(e, d)
		}
	case string:
		if tm, err := time.Parse(time.RFC3339Nano, x); err == nil && !tm.IsZero() {
			return tm.Add(d).Format(time.RFC3339Nano)
		}
	}
	return v
}

// An offset within half the round trip is the measurement's error and
// taken as none; past it, the remote clock less the round trip's
// midpoint. A raw peer keeps the estimate of its shortest round trip and
// ignores an origin that gives no time.
func TestClockOffset(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		name                string
		sent, answered, now time.Time
		want                time.Duration
	}{
		{"same clock", ms(0), ms(10), ms(5), 0},
		{"within the error", ms(0), ms(10), ms(9), 0},
		{"an hour ahead", ms(0), ms(10), ms(5).Add(time.Hour), time.Hour},
		{"behind", ms(0), ms(10), ms(5).Add(-300 * time.Millisecond), -300 * time.Millisecond},
	} {
		if got := clockOffset(tc.sent, tc.answered, tc.now); got != tc.want {
			t.Errorf("%s: offset %v, want %v", tc.name, got, tc.want)
		}
	}
	var c originClock
	for _, s := range []struct {
		sent, answered, now time.Time
		changed             bool
		want                time.Duration
	}{
		{ms(0), ms(100), ms(50).Add(time.Second), true, time.Second},
		{ms(1000), ms(1200), ms(1100).Add(2 * time.Second), false, time.Second}, // a longer round trip
		{ms(2000), ms(2010), ms(2005).Add(1500 * time.Millisecond), true, 1500 * time.Millisecond},
		{ms(3000), ms(3001), time.Time{}, false, 1500 * time.Millisecond}, // no time given
	} {
		if changed := c.sample(s.sent, s.answered, s.now); changed != s.changed || c.offset != s.want {
			t.Errorf("after the exchange at %v: changed %v, offset %v; want %v, %v", s.sent.Sub(t0), changed, c.offset, s.changed, s.want)
		}
	}
}

package content

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchnet/patchnet/trust"
)

// vendorNode is one node with a disk store (so vendor bytes are staged in
// its temp directory) and no peers to fetch from.
func vendorNode(t *testing.T) *node {
	t.Helper()
	return newNetWith(t, 1, secTLS, defaultCfg, diskStore)[0]
}

// assertNoStaging fails if a staged mirror file outlived the fetch.
func assertNoStaging(t *testing.T, n *node) {
	t.Helper()
	left, err := os.ReadDir(n.store.(*DiskStore).tempDir())
	if err != nil || len(left) != 0 {
		t.Errorf("staging directory after the fetch: %v, %v", left, err)
	}
}

// endlessMirror answers with the artifact's bytes and then keeps sending.
func endlessMirror(t *testing.T, data []byte) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 1<<10 && r.Context().Err() == nil; i++ { // bounded: 1 GiB for a 1 MiB chunk
			if _, err := w.Write(data); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// dyingMirror sends the first half of body with the full length declared,
// then drops the connection, on every request.
func dyingMirror(t *testing.T, body []byte, requests *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestMaliciousFirstMirrorDoesNotBlockGoodOne(t *testing.T) {
	n := vendorNode(t)
	data, sum := artifact(3<<20+11, 21)
	root, err := ContentID(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := artifact(len(data), 22) // the right size, other bytes
	evil, good := newVendor(t, forged), newVendor(t, data)
	got, res, err := fetchTo(t, n, Want{CID: root, Size: int64(len(data)), SHA256: sum,
		VendorURLs: []string{evil.srv.URL, good.srv.URL}})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if len(res.BadMirrors) != 1 || res.BadMirrors[0].URL != evil.srv.URL ||
		!errors.Is(res.BadMirrors[0].Err, ErrDigestMismatch) || !errors.Is(res.BadMirrors[0].Err, trust.ErrUntrusted) {
		t.Fatalf("bad mirrors %v, want %s with a digest mismatch", res.BadMirrors, evil.srv.URL)
	}
	if diff := cmp.Diff([]Source{SourceVendor}, res.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	// Only the good mirror's bytes were imported: the kept DAG is the
	// announced one, so the artifact is provided.
	if has, err := n.store.Has(context.Background(), root); !res.Provided || !has || err != nil {
		t.Errorf("provided %v, root kept %v (%v): want the good mirror's artifact kept", res.Provided, has, err)
	}
	assertNoStaging(t, n)
}

func TestEndlessDataMirrorSkipped(t *testing.T) {
	data, sum := artifact(1<<20, 23)
	for _, tc := range []struct {
		name string
		body func(w http.ResponseWriter)
	}{
		{"chunked without end", func(w http.ResponseWriter) {
			for i := 0; i < 1<<10; i++ { // bounded: 1 GiB
				if _, err := w.Write(data); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}},
		{"the artifact, then more", func(w http.ResponseWriter) {
			w.Write(data)
			w.Write([]byte("trailing payload"))
		}},
		{"declares more than announced", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)+1))
			w.Write(data)
			w.Write([]byte("x"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := vendorNode(t)
			endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { tc.body(w) }))
			defer endless.Close()
			good := newVendor(t, data)
			got, res, err := fetchTo(t, n, Want{Size: int64(len(data)), SHA256: sum,
				VendorURLs: []string{endless.URL, good.srv.URL}})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			checkArtifact(t, got, data)
			if len(res.BadMirrors) != 1 || !errors.Is(res.BadMirrors[0].Err, ErrEndlessData) {
				t.Fatalf("bad mirrors %v, want the endless one with ErrEndlessData", res.BadMirrors)
			}
			assertNoStaging(t, n)
		})
	}
}

func TestAllMirrorsBadNamesEach(t *testing.T) {
	n := vendorNode(t)
	data, sum := artifact(1<<20+3, 24)
	forged, _ := artifact(len(data), 25)
	var dies atomic.Int64
	mirrors := []struct {
		url       string
		untrusted bool
		reason    string
	}{
		{newVendor(t, forged).srv.URL, true, "SHA-256"},
		{endlessMirror(t, data), true, "more data than the announced size"},
		{newVendor(t, data[:len(data)-1]).srv.URL, true, "server declares"},
		{notFoundURL(t), false, "404"},
		{dyingMirror(t, data, &dies), false, "unexpected EOF"},
		{deadURL(), false, "connection refused"},
	}
	var urls []string
	for _, m := range mirrors {
		urls = append(urls, m.url)
	}
	got, res, err := fetchTo(t, n, Want{Size: int64(len(data)), SHA256: sum, VendorURLs: urls})
	if !errors.Is(err, ErrNoSource) || len(got) != 0 {
		t.Fatalf("Fetch from bad mirrors: wrote %d bytes, err %v; want ErrNoSource and nothing written", len(got), err)
	}
	if len(res.BadMirrors) != len(mirrors) {
		t.Fatalf("%d bad mirrors listed, want %d: %v", len(res.BadMirrors), len(mirrors), res.BadMirrors)
	}
	for i, m := range mirrors {
		bad := res.BadMirrors[i]
		if bad.URL != m.url || errors.Is(bad.Err, trust.ErrUntrusted) != m.untrusted || !strings.Contains(bad.Err.Error(), m.reason) {
			t.Errorf("bad mirror %d = %v; want %s, untrusted %v, mentioning %q", i, bad, m.url, m.untrusted, m.reason)
		}
		if !strings.Contains(err.Error(), m.url) {
			t.Errorf("error does not name mirror %s: %v", m.url, err)
		}
	}
	assertNoStaging(t, n)
}

func TestMirrorDyingMidBodyNotMixedWithNext(t *testing.T) {
	n := vendorNode(t)
	data, sum := artifact(2<<20+5, 26)
	forged, _ := artifact(len(data), 27) // its first half must not end up in the artifact
	var dies atomic.Int64
	dying := dyingMirror(t, forged, &dies)
	good := newVendor(t, data)
	got, res, err := fetchTo(t, n, Want{Size: int64(len(data)), SHA256: sum, VendorURLs: []string{dying, good.srv.URL}})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if len(res.BadMirrors) != 1 || res.BadMirrors[0].URL != dying {
		t.Errorf("bad mirrors %v, want the dying one", res.BadMirrors)
	}
	// The dying mirror was asked again for the rest of its own bytes; the
	// good one was asked for everything, not for a resumed range.
	if dies.Load() < 2 {
		t.Errorf("dying mirror asked %d times, want a resume from it first", dies.Load())
	}
	if diff := cmp.Diff([]string{""}, good.ranges); diff != "" {
		t.Errorf("good mirror's Range headers (-want +got):\n%s", diff)
	}
}

func TestMirrorDroppingConnectionResumedFromSameMirror(t *testing.T) {
	n := vendorNode(t)
	data, sum := artifact(4<<20, 28)
	half := len(data) / 2
	var dropped atomic.Bool
	var sent atomic.Int64
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		if !dropped.Swap(true) {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			m, _ := w.Write(data[:half])
			sent.Add(int64(m))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(&countingResponse{ResponseWriter: w, n: &sent}, r, "a.deb", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	got, res, err := fetchTo(t, n, Want{Size: int64(len(data)), SHA256: sum, VendorURLs: []string{srv.URL}})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	if len(res.BadMirrors) != 0 {
		t.Errorf("bad mirrors %v, want none", res.BadMirrors)
	}
	mu.Lock()
	defer mu.Unlock()
	var from int64
	if len(ranges) != 2 || ranges[0] != "" {
		t.Fatalf("Range headers %q, want a whole request and one resumed range", ranges)
	}
	if _, err := fmt.Sscanf(ranges[1], "bytes=%d-", &from); err != nil || from == 0 {
		t.Fatalf("resumed with Range %q, want one from the bytes already staged", ranges[1])
	}
	if want := int64(half) + int64(len(data)) - from; sent.Load() != want {
		t.Errorf("mirror sent %d bytes in all; resuming from %d should cost %d", sent.Load(), from, want)
	}
	assertNoStaging(t, n)
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, tc := range []struct {
		field  string
		mutate func(*Config)
	}{
		{"reprovide_interval", func(c *Config) { c.ReprovideInterval = 49 * time.Hour }},
		{"reprovide_interval", func(c *Config) { c.ReprovideInterval = 0 }},
		{"provider_search_timeout", func(c *Config) { c.ProviderSearchTimeout = -time.Second }},
		{"max_providers", func(c *Config) { c.MaxProviders = MaxProviders + 1 }},
		{"streams_per_provider", func(c *Config) { c.StreamsPerProvider = 0 }},
		{"serve_streams_per_peer", func(c *Config) { c.ServeStreamsPerPeer = 65 }},
		{"seed_serve_copies", func(c *Config) { c.SeedServeCopies = -1 }},
		{"provide_spread", func(c *Config) { c.ProvideSpread = -time.Second }},
		{"provide_spread", func(c *Config) { c.ProvideSpread = c.ReprovideInterval + time.Second }},
		{"seed_serve_copies", func(c *Config) { c.SeedServeCopies = MaxSeedServeCopies + 1 }},
	} {
		c := DefaultConfig()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate: %v, want an error naming %s", err, tc.field)
		}
	}
}

func TestWantValidate(t *testing.T) {
	for name, w := range map[string]Want{
		"negative size": {Size: -1, VendorURLs: []string{"http://x"}},
		"oversized":     {Size: MaxArtifactSize + 1, VendorURLs: []string{"http://x"}},
		"no source":     {Size: 1},
		"CIDv0 root":    {Size: 1, CID: sumCID(t, 0, 0, 0, "a")},
	} {
		if err := w.validate(); err == nil {
			t.Errorf("%s: validate accepted %+v", name, w)
		}
	}
}

package content

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPFetcher(t *testing.T) {
	data := []byte("0123456789abcdefghij")
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		offset  int64
		size    int64
		want    string
		wantErr string
	}{
		{"whole", serveBytes(data), 0, 20, string(data), ""},
		{"resumed with Range", serveBytes(data), 5, 20, string(data[5:]), ""},
		{"Range ignored: prefix skipped", func(w http.ResponseWriter, _ *http.Request) { w.Write(data) }, 5, 20, string(data[5:]), ""},
		{"wrong Content-Range", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-19/20")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data)
		}, 5, 20, "", "Content-Range"},
		{"not found", http.NotFound, 0, 20, "", "404"},
		{"declared too long", serveBytes(data), 0, 10, "", "exceeds the announced size"},
		{"chunked too long", func(w http.ResponseWriter, _ *http.Request) {
			w.Write(data[:10])
			w.(http.Flusher).Flush()
			w.Write(data[10:])
		}, 0, 10, "", "more than the announced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			var got bytes.Buffer
			err := (&HTTPFetcher{}).FetchURL(context.Background(), srv.URL, tc.offset, Want{Size: tc.size}, &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FetchURL: %v, want an error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("FetchURL = %q, %v; want %q", got.String(), err, tc.want)
			}
		})
	}
}

func serveBytes(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "a", time.Time{}, bytes.NewReader(data))
	}
}

func TestHTTPFetcherOversizedIsEndlessData(t *testing.T) {
	srv := httptest.NewServer(serveBytes(make([]byte, 100)))
	defer srv.Close()
	err := (&HTTPFetcher{}).FetchURL(context.Background(), srv.URL, 0, Want{Size: 50}, &bytes.Buffer{})
	if !errors.Is(err, ErrEndlessData) {
		t.Fatalf("FetchURL of 100 bytes announced as 50: %v, want ErrEndlessData", err)
	}
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

package updates

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
)

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func wantOf(b []byte) Want { return Want{Size: int64(len(b)), SHA256: sha256.Sum256(b)} }

// serveBytes serves content with Range support and counts requests and
// bytes written.
type countingServer struct {
	*httptest.Server
	requests atomic.Int64
	served   atomic.Int64
	mu       sync.Mutex
	ranges   []string
}

func newContentServer(t *testing.T, content []byte) *countingServer {
	cs := &countingServer{}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.requests.Add(1)
		cs.mu.Lock()
		cs.ranges = append(cs.ranges, r.Header.Get("Range"))
		cs.mu.Unlock()
		http.ServeContent(countWriter{w, &cs.served}, r, "artifact", time.Time{}, bytes.NewReader(content))
	}))
	t.Cleanup(cs.Close)
	return cs
}

type countWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func assertNoFile(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a refused fetch (stat: %v)", p, err)
		}
	}
}

func TestFetchURL(t *testing.T) {
	content := randomBytes(t, 3<<20+17)
	srv := newContentServer(t, content)
	dst := filepath.Join(t.TempDir(), "a.deb")
	var calls []int64
	err := FetchURL(context.Background(), srv.URL+"/a.deb", wantOf(content), dst, FetchOptions{
		Progress: func(done, total int64) {
			if total != int64(len(content)) {
				t.Errorf("progress total %d", total)
			}
			calls = append(calls, done)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, content) {
		t.Fatal("fetched content differs")
	}
	if len(calls) == 0 || calls[len(calls)-1] != int64(len(content)) {
		t.Errorf("progress calls %v do not end at %d", calls, len(content))
	}
	assertNoFile(t, dst+".part")
}

func TestWrongSoftwareDigestRejected(t *testing.T) {
	content := randomBytes(t, 1<<20)
	other := randomBytes(t, len(content)) // same size, other bytes
	srv := newContentServer(t, other)
	dst := filepath.Join(t.TempDir(), "a.deb")
	err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{})
	if !errors.Is(err, trust.ErrDigestMismatch) || !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("FetchURL = %v, want ErrDigestMismatch", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("announced %x", sha256.Sum256(content))) {
		t.Errorf("error %q does not name the announced digest", err)
	}
	assertNoFile(t, dst, dst+".part")
}

func TestEndlessDataAborted(t *testing.T) {
	content := randomBytes(t, 1<<20)
	t.Run("chunked stream without end", func(t *testing.T) {
		var written atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for i := 0; i < 1<<14 && r.Context().Err() == nil; i++ { // bounded: 1 GiB at most
				n, err := w.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}))
		defer srv.Close()
		dst := filepath.Join(t.TempDir(), "a")
		err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{})
		if !errors.Is(err, trust.ErrOversized) {
			t.Fatalf("FetchURL = %v, want ErrOversized", err)
		}
		assertNoFile(t, dst, dst+".part")
		if w := written.Load(); w >= 1<<30 {
			t.Errorf("server wrote %d bytes: the client did not stop reading", w)
		}
	})
	t.Run("no length, more than announced", func(t *testing.T) {
		srv := rawServer(t, func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
			w.Write(content)
			w.Write(bytes.Repeat([]byte("y"), 3<<20))
		})
		dst := filepath.Join(t.TempDir(), "a")
		err := FetchURL(context.Background(), srv, wantOf(content), dst, FetchOptions{})
		if !errors.Is(err, trust.ErrOversized) {
			t.Fatalf("FetchURL = %v, want ErrOversized", err)
		}
		assertNoFile(t, dst, dst+".part")
	})
	t.Run("lying Content-Length then more", func(t *testing.T) {
		srv := rawServer(t, func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n")
			w.Write(bytes.Repeat([]byte("z"), 4<<20))
		})
		dst := filepath.Join(t.TempDir(), "a")
		err := FetchURL(context.Background(), srv, wantOf(content), dst, FetchOptions{})
		if !errors.Is(err, trust.ErrDigestMismatch) || !strings.Contains(err.Error(), "server declares 1024 bytes") {
			t.Fatalf("FetchURL = %v, want a refusal naming the declared size", err)
		}
		assertNoFile(t, dst)
	})
	t.Run("declared length larger than announced", func(t *testing.T) {
		srv := rawServer(t, func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", 1<<40)
			w.Write(bytes.Repeat([]byte("z"), 1<<20))
		})
		dst := filepath.Join(t.TempDir(), "a")
		if err := FetchURL(context.Background(), srv, wantOf(content), dst, FetchOptions{}); !errors.Is(err, trust.ErrOversized) {
			t.Fatalf("FetchURL = %v, want ErrOversized", err)
		}
	})
}

// rawServer answers every connection by writing respond's bytes and
// closing: for responses net/http would refuse to produce.
func rawServer(t *testing.T, respond func(w *bufio.Writer)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		respond(buf.Writer)
		buf.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetchResumes(t *testing.T) {
	content := randomBytes(t, 4<<20)
	half := len(content) / 2
	var first atomic.Bool
	var served atomic.Int64
	var rangeStart atomic.Int64
	rangeStart.Store(-1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !first.Swap(true) {
			// Drop the connection half way through the first transfer.
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			n, _ := w.Write(content[:half])
			served.Add(int64(n))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		var start int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start); err == nil {
			rangeStart.Store(start)
		}
		http.ServeContent(countWriter{w, &served}, r, "a", time.Time{}, bytes.NewReader(content))
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "a")
	err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{})
	if err == nil {
		t.Fatal("first fetch succeeded although the server dropped the connection")
	}
	st, statErr := os.Stat(dst + ".part")
	if statErr != nil || st.Size() == 0 {
		t.Fatalf("partial file after a dropped connection: %v, %v", st, statErr)
	}
	assertNoFile(t, dst)
	if err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{}); err != nil {
		t.Fatalf("resumed fetch: %v", err)
	}
	if got := rangeStart.Load(); got != st.Size() {
		t.Errorf("second request asked for bytes %d-, the partial file held %d", got, st.Size())
	}
	if total := served.Load(); total != int64(half)+int64(len(content))-st.Size() {
		t.Errorf("server sent %d bytes in all; resuming from %d should cost %d", total, st.Size(), int64(half)+int64(len(content))-st.Size())
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, content) {
		t.Fatal("resumed content differs")
	}
	assertNoFile(t, dst+".part")
}

func TestFetchRestartsWhenRangeIgnored(t *testing.T) {
	content := randomBytes(t, 1<<20)
	var ranges atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		w.Write(content) // 200, whole body, Range ignored
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "a")
	if err := os.WriteFile(dst+".part", []byte("garbage that is not a prefix"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if ranges.Load() != 1 {
		t.Errorf("%d ranged requests, want 1", ranges.Load())
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, content) {
		t.Fatal("content differs after restart")
	}
}

func TestFetchRefusesMisplacedContentRange(t *testing.T) {
	content := randomBytes(t, 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(content)-1, len(content)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(content)
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "a")
	os.WriteFile(dst+".part", content[:1000], 0o600)
	err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "to a request for bytes 1000-") {
		t.Fatalf("FetchURL = %v, want a refusal of the misplaced range", err)
	}
	if st, err := os.Stat(dst + ".part"); err != nil || st.Size() != 1000 {
		t.Errorf("partial file not kept as it was: %v %v", st, err)
	}
}

func TestFetchCompletePartNeedsNoRequest(t *testing.T) {
	content := randomBytes(t, 1<<16)
	srv := newContentServer(t, content)
	dst := filepath.Join(t.TempDir(), "a")
	os.WriteFile(dst+".part", content, 0o600)
	if err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("%d requests for an artifact already complete on disk", n)
	}
}

func TestMaliciousMirror(t *testing.T) {
	content := randomBytes(t, 1<<20)
	evil := newContentServer(t, randomBytes(t, len(content)))
	good := newContentServer(t, content)
	dst := filepath.Join(t.TempDir(), "a")
	if err := FetchAny(context.Background(), []string{evil.URL, good.URL}, wantOf(content), dst, FetchOptions{}); err != nil {
		t.Fatalf("FetchAny: %v", err)
	}
	if evil.requests.Load() != 1 || good.requests.Load() != 1 {
		t.Errorf("requests: evil %d, good %d; want 1 each", evil.requests.Load(), good.requests.Load())
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, content) {
		t.Fatal("content differs")
	}
	// A malicious mirror that sends a wrong prefix and drops the
	// connection: the good mirror's resumed bytes fail the digest, so the
	// fetch starts over from the first byte and succeeds.
	dropper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(content)))
		w.Write(randomBytes(t, len(content)/2))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer dropper.Close()
	dst3 := filepath.Join(t.TempDir(), "c")
	good.requests.Store(0)
	if err := FetchAny(context.Background(), []string{dropper.URL, good.URL}, wantOf(content), dst3, FetchOptions{}); err != nil {
		t.Fatalf("FetchAny after a bad partial prefix: %v", err)
	}
	if got, _ := os.ReadFile(dst3); !bytes.Equal(got, content) || good.requests.Load() != 2 {
		t.Fatalf("content ok %v, good mirror asked %d times (want a resume, then a restart)", bytes.Equal(got, content), good.requests.Load())
	}
	// Only malicious mirrors: refused, nothing left behind.
	dst2 := filepath.Join(t.TempDir(), "b")
	err := FetchAny(context.Background(), []string{evil.URL, evil.URL}, wantOf(content), dst2, FetchOptions{})
	if !errors.Is(err, trust.ErrDigestMismatch) {
		t.Fatalf("FetchAny from bad mirrors = %v, want ErrDigestMismatch", err)
	}
	assertNoFile(t, dst2, dst2+".part")
}

func TestFetchStallAborted(t *testing.T) {
	content := randomBytes(t, 1<<20)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(content)))
		w.Write(content[:1000])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "a")
	err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{StallTimeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no data for 100ms") {
		t.Fatalf("FetchURL = %v, want a stall error", err)
	}
}

func TestFetchRefusesBadArguments(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "a")
	tests := []struct {
		url  string
		want Want
		msg  string
	}{
		{"http://127.0.0.1:1/a", Want{Size: 0, SHA256: Digest{1}}, "want.size: 0"},
		{"http://127.0.0.1:1/a", Want{Size: 10}, "want.sha256: required"},
		{"file:///etc/passwd", Want{Size: 10, SHA256: Digest{1}}, "want an http or https URL"},
	}
	for _, tt := range tests {
		err := FetchURL(context.Background(), tt.url, tt.want, dst, FetchOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("FetchURL(%s, %+v) = %v, want %q", tt.url, tt.want, err, tt.msg)
		}
	}
}

func TestTextProgress(t *testing.T) {
	var b strings.Builder
	p := TextProgress(&b, "openssl.deb")
	p(0, 4<<20)
	p(1<<20, 4<<20)
	p(1<<20+1, 4<<20) // same percentage: no redraw
	p(4<<20, 4<<20)
	want := "\ropenssl.deb   0%     0.0/4.0 MiB\ropenssl.deb  25%     1.0/4.0 MiB\ropenssl.deb 100%     4.0/4.0 MiB\n"
	if b.String() != want {
		t.Errorf("progress output %q, want %q", b.String(), want)
	}
}

func TestFetchURLOverHTTPS(t *testing.T) {
	content := randomBytes(t, 1<<20)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "a", time.Time{}, bytes.NewReader(content))
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "a")
	// The default client does not trust the test server's certificate.
	if err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("FetchURL with an untrusted certificate = %v", err)
	}
	client := NewFetchClient()
	client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	if err := FetchURL(context.Background(), srv.URL, wantOf(content), dst, FetchOptions{Client: client}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, content) {
		t.Fatal("content differs")
	}
}

func TestFetchRefusesRedirectToOtherScheme(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/shadow", http.StatusFound)
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "a")
	err := FetchURL(context.Background(), srv.URL, Want{Size: 10, SHA256: Digest{1}}, dst, FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "only http and https are followed") {
		t.Fatalf("FetchURL = %v", err)
	}
}

func TestStreamURL(t *testing.T) {
	data := []byte("0123456789abcdefghij")
	serve := func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "a", time.Time{}, bytes.NewReader(data))
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		offset  int64
		size    int64
		want    string
		wantErr string
		wantIs  error
	}{
		{name: "whole", handler: serve, size: 20, want: string(data)},
		{name: "resumed with Range", handler: serve, offset: 5, size: 20, want: string(data[5:])},
		{name: "Range ignored: prefix skipped", handler: func(w http.ResponseWriter, _ *http.Request) { w.Write(data) },
			offset: 5, size: 20, want: string(data[5:])},
		{name: "nothing left", handler: func(http.ResponseWriter, *http.Request) { t.Error("request for no bytes") },
			offset: 20, size: 20},
		{name: "offset past the size", handler: serve, offset: 21, size: 20, wantErr: "offset 21 is not in 0..20"},
		{name: "misplaced Content-Range", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-19/20")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data)
		}, offset: 5, size: 20, wantErr: "to a request for bytes 5-"},
		{name: "not found", handler: http.NotFound, size: 20, wantErr: "404"},
		{name: "declared too long", handler: serve, size: 10, wantIs: trust.ErrOversized},
		{name: "chunked too long", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Write(data[:10])
			w.(http.Flusher).Flush()
			w.Write(data[10:])
		}, size: 10, wantIs: trust.ErrOversized}, // one buffer holds both writes: refused whole
		{name: "dropped mid-body", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "20")
			w.Write(data[:8])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, size: 20, want: string(data[:8]), wantErr: "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			var got bytes.Buffer
			n, err := StreamURL(context.Background(), srv.URL, Want{Size: tc.size, SHA256: Digest{1}}, tc.offset, &got, FetchOptions{})
			if n != int64(got.Len()) || got.String() != tc.want {
				t.Errorf("StreamURL wrote %q and reported %d bytes; want %q", got.String(), n, tc.want)
			}
			switch {
			case tc.wantIs != nil && !errors.Is(err, tc.wantIs):
				t.Errorf("StreamURL: %v, want %v", err, tc.wantIs)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("StreamURL: %v, want an error mentioning %q", err, tc.wantErr)
			case tc.wantIs == nil && tc.wantErr == "" && err != nil:
				t.Errorf("StreamURL: %v", err)
			}
		})
	}
}

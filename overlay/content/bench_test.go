package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const benchSize = 256 << 20

// diskStore opens a DiskStore in a fresh temp dir.
func diskStore(tb testing.TB) Blockstore {
	s, err := OpenDiskStore(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// cpuTime is the CPU this process has used (both ends of every transfer
// run in it), so benchmarks can report CPU per operation beside wall time:
// on a loaded machine the wall time says more about the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs op b.N times and reports CPU milliseconds per op.
func loop(b *testing.B, size int, op func()) {
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// benchFetch times fetches of a seeded artifact by nodes[0] into
// io.Discard, with the SHA-256 check Fetch always does.
func benchFetch(b *testing.B, nodes []*node, data []byte, sum [32]byte) {
	root := seed(b, data, nodes[0], nodes[1:]...)
	want := Want{CID: root, Size: int64(len(data)), SHA256: sum}
	loop(b, len(data), func() {
		if _, err := nodes[0].svc.Fetch(context.Background(), want, io.Discard); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkFetch256MiBOnePeer(b *testing.B) {
	data, sum := artifact(benchSize, 42)
	for _, bc := range []struct {
		name string
		sec  security
	}{{"tls", secTLS}, {"noise", secNoise}} {
		b.Run(bc.name, func(b *testing.B) {
			nodes := newNetWith(b, 2, bc.sec, defaultCfg, diskStore)
			// The fetcher keeps nothing, as the HTTP baselines keep nothing:
			// both sides measure transfer plus verification.
			nodes[0].svc.store, nodes[0].svc.srv = nil, nil
			benchFetch(b, nodes, data, sum)
		})
	}
}

// serveFile writes data to a file and serves it, as an origin would.
func serveFile(b *testing.B, data []byte) http.Handler {
	p := filepath.Join(b.TempDir(), "a.deb")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, p)
	})
}

// benchHTTP times GETs of the artifact streamed through SHA-256.
func benchHTTP(b *testing.B, srv *httptest.Server, client *http.Client, size int, sum [32]byte) {
	loop(b, size, func() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(io.Discard, h), resp.Body)
		resp.Body.Close()
		if err != nil || n != int64(size) || !bytes.Equal(h.Sum(nil), sum[:]) {
			b.Fatalf("GET: %d bytes, err %v", n, err)
		}
	})
}

func BenchmarkHTTPS256MiB(b *testing.B) {
	data, sum := artifact(benchSize, 42)
	srv := httptest.NewUnstartedServer(serveFile(b, data))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	defer srv.Close()
	benchHTTP(b, srv, srv.Client(), len(data), sum)
}

func BenchmarkHTTP256MiB(b *testing.B) {
	data, sum := artifact(benchSize, 42)
	srv := httptest.NewServer(serveFile(b, data))
	defer srv.Close()
	benchHTTP(b, srv, srv.Client(), len(data), sum)
}

// cappedRate models a provider on a 100 Mbit/s link.
const cappedRate = 100e6 / 8

func BenchmarkFetchCappedProviders(b *testing.B) {
	data, sum := artifact(32<<20, 43)
	for _, n := range []int{1, 4} {
		b.Run(map[int]string{1: "one", 4: "four"}[n], func(b *testing.B) {
			nodes := newNet(b, n+1, func(i int) Config {
				c := DefaultConfig()
				if i > 0 {
					c.sendRate = cappedRate
				}
				return c
			})
			nodes[0].svc.store, nodes[0].svc.srv = nil, nil
			benchFetch(b, nodes, data, sum)
			b.ReportMetric(float64(time.Duration(b.Elapsed().Nanoseconds()/int64(b.N)).Milliseconds()), "ms/fetch")
		})
	}
}

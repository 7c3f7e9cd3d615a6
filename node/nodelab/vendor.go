package nodelab

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// vendor is the vendor's download server on loopback: the origin whose
// egress peer-to-peer distribution keeps flat. It counts the bytes it sends.
type vendor struct {
	srv  *http.Server
	url  string
	sent atomic.Int64
	hits atomic.Int64
	down atomic.Bool
}

// startVendor serves file at http://127.0.0.1:PORT/<name>.
func startVendor(file string) (*vendor, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	v := &vendor{}
	name := filepath.Base(file)
	v.url = "http://" + ln.Addr().String() + "/" + name
	v.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v.down.Load() {
			http.Error(w, "vendor down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path != "/"+name {
			http.NotFound(w, r)
			return
		}
		v.hits.Add(1)
		http.ServeContent(&countingWriter{ResponseWriter: w, n: &v.sent}, r, name, time.Time{}, bytes.NewReader(data))
	})}
	go func() {
		if err := v.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return
		}
	}()
	return v, nil
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (v *vendor) close() error { return v.srv.Close() }

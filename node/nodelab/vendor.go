package nodelab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// vendor is the vendor's download server on loopback: the origin whose
// egress peer-to-peer distribution keeps flat. It counts the bytes it sends.
type vendor struct {
	srv    *http.Server
	url    string
	origin string // the URL prefix supernodes allow for the lab's publisher
	key    string // the vendor's armored OpenPGP public key, pinned by supernodes
	sent   atomic.Int64
	hits   atomic.Int64
	down   atomic.Bool

	mu    sync.Mutex
	holds map[string]*hold // by path prefix: requests parked until released
}

// hold parks the requests for one path: arrived is closed when the first
// comes in, released when the test lets them go on.
type hold struct {
	arrived, released chan struct{}
	once              sync.Once
}

// wait parks the request for r's path if a hold covers it, until the hold
// is released or the client gives up.
func (v *vendor) wait(r *http.Request) {
	var h *hold
	v.mu.Lock()
	for prefix, ph := range v.holds {
		if strings.HasPrefix(r.URL.Path, prefix) {
			h = ph
		}
	}
	v.mu.Unlock()
	if h == nil {
		return
	}
	h.once.Do(func() { close(h.arrived) })
	select {
	case <-h.released:
	case <-r.Context().Done():
	}
}

// holdPath parks requests for paths beginning with prefix (a path, from
// its leading /) until release is called; arrived is closed when the first
// of them comes in.
func (v *vendor) holdPath(prefix string) (arrived <-chan struct{}, release func()) {
	h := &hold{arrived: make(chan struct{}), released: make(chan struct{})}
	v.mu.Lock()
	if v.holds == nil {
		v.holds = make(map[string]*hold)
	}
	v.holds[prefix] = h
	v.mu.Unlock()
	var once sync.Once
	return h.arrived, func() { once.Do(func() { close(h.released) }) }
}

// startVendor serves file at http://127.0.0.1:PORT/<name>, with the
// vendor's detached OpenPGP signature beside it at <name>.asc, made with a
// key generated here whose public half it writes into dir.
func startVendor(file, dir string) (*vendor, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v := &vendor{}
	sig, err := v.sign(data, dir)
	if err != nil {
		return nil, fmt.Errorf("signing as the vendor: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	name := filepath.Base(file)
	v.origin = "http://" + ln.Addr().String() + "/"
	v.url = v.origin + name
	v.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v.down.Load() {
			http.Error(w, "vendor down for maintenance", http.StatusServiceUnavailable)
			return
		}
		v.wait(r)
		if r.URL.Path == "/"+name+".asc" {
			http.ServeContent(w, r, name+".asc", time.Time{}, bytes.NewReader(sig))
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

// sign makes the vendor's key (Ed25519, as a vendor's release key), writes
// its armored public key to dir/vendor.asc and returns an armored detached
// signature of data.
func (v *vendor) sign(data []byte, dir string) ([]byte, error) {
	e, err := openpgp.NewEntity("patchnet lab vendor", "", "vendor@lab.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return nil, err
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	v.key = filepath.Join(dir, "vendor.asc")
	if err := os.WriteFile(v.key, pub.Bytes(), 0o644); err != nil {
		return nil, err
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, e, bytes.NewReader(data), nil); err != nil {
		return nil, err
	}
	return sig.Bytes(), nil
}

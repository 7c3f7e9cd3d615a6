package zonekit

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Vendor is a vendor's origin: it serves each artifact added at
// /NAME with its detached OpenPGP signature at /NAME.asc, as supernodes'
// co-signing policy requires.
type Vendor struct {
	// URL is the origin's prefix, ending in "/".
	URL string
	// KeyFile is the vendor's armored public key (for --vendor-key).
	KeyFile string

	ent    *openpgp.Entity
	srv    *http.Server
	mu     sync.Mutex
	art    map[string][]byte
	served int64
}

// NewVendor makes a vendor key, writes its public half to keyFile, and
// serves on ln (whose address must be reachable by the supernodes).
func NewVendor(ln net.Listener, keyFile string) (*Vendor, error) {
	ent, err := openpgp.NewEntity("zonekit vendor", "", "vendor@zonekit.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return nil, fmt.Errorf("making the vendor key: %w", err)
	}
	var pub bytes.Buffer
	aw, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err == nil {
		err = ent.Serialize(aw)
	}
	if err == nil {
		err = aw.Close()
	}
	if err == nil {
		err = os.WriteFile(keyFile, pub.Bytes(), 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("writing the vendor key: %w", err)
	}
	v := &Vendor{URL: "http://" + ln.Addr().String() + "/", KeyFile: keyFile, ent: ent, art: map[string][]byte{}}
	v.srv = &http.Server{Handler: http.HandlerFunc(v.serve)}
	go v.srv.Serve(ln)
	return v, nil
}

// Add signs the file at path and serves it and its signature; it returns
// the artifact's URL.
func (v *Vendor) Add(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading artifact: %w", err)
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, v.ent, bytes.NewReader(data), nil); err != nil {
		return "", fmt.Errorf("signing %s: %w", filepath.Base(path), err)
	}
	name := filepath.Base(path)
	v.mu.Lock()
	v.art["/"+name] = data
	v.art["/"+name+".asc"] = sig.Bytes()
	v.mu.Unlock()
	return v.URL + name, nil
}

func (v *Vendor) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	data, ok := v.art[r.URL.Path]
	v.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	n, _ := w.Write(data)
	v.mu.Lock()
	v.served += int64(n)
	v.mu.Unlock()
}

// Served is the bytes the origin served so far (artifacts and signatures).
func (v *Vendor) Served() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.served
}

// Close stops serving.
func (v *Vendor) Close() error { return v.srv.Close() }

package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

// OriginServedPath is where the vendor origin says how many bytes it
// served (OriginServed): a dot path, never one of its files.
const OriginServedPath = "/.patchnet/served"

// OriginServed is the vendor origin's answer at OriginServedPath.
type OriginServed struct {
	// Bytes is what it served of its files (artifacts and signatures) since
	// it started: the content scenario's origin egress.
	Bytes int64 `json:"served_bytes"`
}

// Origin is the rendered zone's vendor origin: it serves the files of
// its directories (the first that has a name wins; names with a
// dot-element, such as a mounted ConfigMap's ..data, are hidden) and
// counts the bytes it served; with ExpectBaseline it also runs the HTTP
// baseline's barrier and serves its downloads, counted apart, and with
// ExpectRaw the raw gossipsub baseline's rounds.
type Origin struct {
	files    http.Handler
	served   atomic.Int64
	baseline *barrier // nil: no HTTP baseline (ExpectBaseline)
	raw      *rawRun  // nil: no raw gossipsub baseline (ExpectRaw)
}

// NewOrigin serves dirs, each of which must be a directory.
func NewOrigin(dirs ...string) (*Origin, error) {
	if len(dirs) == 0 {
		return nil, errors.New("vendor origin: no directory to serve")
	}
	var u unionFS
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("vendor origin: %q is not a directory", d)
		}
		u = append(u, os.DirFS(d))
	}
	return &Origin{files: http.FileServerFS(u)}, nil
}

// ServeHTTP answers OriginServedPath, or a file, counting what it wrote.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == OriginServedPath {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(OriginServed{Bytes: o.served.Load()})
		return
	}
	if r.URL.Path == BaselinePath || strings.HasPrefix(r.URL.Path, BaselinePath+"/") {
		o.serveBaseline(w, r)
		return
	}
	if r.URL.Path == RawPath || strings.HasPrefix(r.URL.Path, RawPath+"/") {
		o.serveRaw(w, r)
		return
	}
	o.files.ServeHTTP(&countingWriter{ResponseWriter: w, n: &o.served}, r)
}

// Served is the bytes of files served so far.
func (o *Origin) Served() int64 { return o.served.Load() }

// countingWriter adds what it writes of a file (a 200 or 206 answer)
// to n; an error page is not egress of the artifact. It hides the
// ResponseWriter's ReadFrom, so every byte passes through Write.
type countingWriter struct {
	http.ResponseWriter
	n       *atomic.Int64
	failing bool
}

// WriteHeader notes whether the answer is an error page.
func (c *countingWriter) WriteHeader(code int) {
	c.failing = code >= http.StatusMultipleChoices
	c.ResponseWriter.WriteHeader(code)
}

// Write passes p on and counts it unless the answer is an error page.
func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.ResponseWriter.Write(p)
	if !c.failing {
		c.n.Add(int64(k))
	}
	return k, err
}

// unionFS opens a name in the first file system that has it, and hides
// names with an element starting with a dot.
type unionFS []fs.FS

// Open opens name in the first file system that has it.
func (u unionFS) Open(name string) (fs.File, error) {
	if name != "." {
		for _, el := range strings.Split(name, "/") {
			if strings.HasPrefix(el, ".") {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
		}
	}
	var first error
	for _, f := range u {
		file, err := f.Open(name)
		if err == nil {
			return file, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// FetchOriginServed reads what the vendor origin at originURL (its
// prefix, as Spec.OriginURL) served.
func FetchOriginServed(ctx context.Context, originURL string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, CollectTimeout)
	defer cancel()
	var s OriginServed
	if _, err := getJSON(ctx, strings.TrimSuffix(originURL, "/")+OriginServedPath, &s); err != nil {
		return 0, fmt.Errorf("reading the vendor origin's egress: %w", err)
	}
	return s.Bytes, nil
}

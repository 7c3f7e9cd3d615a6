package updates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/trust"
)

// Want is what a fetched artifact must be: exactly Size bytes whose SHA-256
// is SHA256. Both come from an accepted announcement.
type Want struct {
	Size   int64
	SHA256 Digest
}

// WantArtifact returns what an artifact's bytes must be.
func WantArtifact(a *Artifact) Want { return Want{Size: a.Size, SHA256: a.SHA256} }

func (w Want) validate() error {
	if w.Size <= 0 || w.Size > MaxArtifactSize {
		return fmt.Errorf("want.size: %d is not in 1..%d", w.Size, int64(MaxArtifactSize))
	}
	if w.SHA256.IsZero() {
		return errors.New("want.sha256: required")
	}
	return nil
}

// FetchOptions tune FetchURL. The zero value is usable.
type FetchOptions struct {
	// Client makes the requests; nil means NewFetchClient().
	Client *http.Client
	// Progress, when set, is called with bytes held so far (including a
	// resumed prefix) and the total, every ProgressInterval bytes and at the
	// end.
	Progress func(done, total int64)
	// UserAgent is sent with each request; empty means "patchnet".
	UserAgent string
	// StallTimeout aborts a transfer that delivers no byte for this long;
	// zero means DefaultStallTimeout.
	StallTimeout time.Duration
}

// NewFetchClient returns the HTTP client FetchURL uses by default: no
// transparent decompression (bytes are counted as sent), a bounded wait for
// response headers, no overall timeout (artifacts can be large; the caller's
// context bounds the transfer), redirects only to http and https.
func NewFetchClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	tr.ResponseHeaderTimeout = DefaultFetchTimeout
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("redirect to %q: only http and https are followed", req.URL.Redacted())
	}
	return nil
}

// FetchURL downloads url to dst and returns only once dst holds exactly the
// wanted bytes. It writes to dst+".part" and resumes an existing part with a
// Range request (restarting if the server does not honour it with 206 and a
// matching Content-Range). Every byte is counted against want.Size: past it
// the transfer is aborted with trust.ErrOversized, whatever the server said in
// Content-Length. The SHA-256 is checked before the part is renamed to dst,
// so dst never holds unverified bytes; a mismatch (trust.ErrDigestMismatch)
// deletes the part. A dropped connection keeps the part for the next call.
func FetchURL(ctx context.Context, url string, want Want, dst string, opts FetchOptions) error {
	if err := checkFetchArgs(url, want); err != nil {
		return err
	}
	f := &fetch{url: url, want: want, dst: dst, part: dst + ".part", opts: withDefaults(opts)}
	if err := f.run(ctx); err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	return nil
}

// FetchAny tries urls in order until one yields the wanted bytes: a
// malicious or broken mirror costs a retry, not the update. The error lists
// every URL's failure.
func FetchAny(ctx context.Context, urls []string, want Want, dst string, opts FetchOptions) error {
	if len(urls) == 0 {
		return errors.New("fetching: no URL to fetch from")
	}
	var errs []error
	for _, u := range urls {
		err := FetchURL(ctx, u, want, dst, opts)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// StreamURL writes the bytes of url from offset up to want.Size into w. It
// is FetchURL's transfer for a caller that keeps the bytes itself (content's
// vendor fallback stages each mirror's bytes to verify them on their own):
// the same client, redirect checks, stall bound and byte count apply. With
// offset > 0 the rest is asked for with a Range request; when the server
// answers with the whole body instead, its first offset bytes are skipped.
// A byte past want.Size is trust.ErrOversized. StreamURL sees only the bytes
// from offset on, so it cannot check the SHA-256: the caller must. n counts
// the bytes that reached w, on error too, so the caller can resume from
// offset+n — from the same URL, or its bytes are mixed with another's.
func StreamURL(ctx context.Context, url string, want Want, offset int64, w io.Writer, opts FetchOptions) (n int64, err error) {
	if err := checkFetchArgs(url, want); err != nil {
		return 0, err
	}
	if offset < 0 || offset > want.Size {
		return 0, fmt.Errorf("fetching %s: offset %d is not in 0..%d", url, offset, want.Size)
	}
	if offset == want.Size {
		return 0, nil
	}
	s := &skipWriter{w: w}
	t := &transfer{url: url, want: want, opts: withDefaults(opts), have: offset, sink: s}
	if err := t.run(ctx); err != nil {
		return s.n, fmt.Errorf("fetching %s: %w", url, err)
	}
	return s.n, nil
}

func checkFetchArgs(url string, want Want) error {
	if err := want.validate(); err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	if err := ValidateFetchURL(url); err != nil {
		return fmt.Errorf("fetching: %w", err)
	}
	return nil
}

func withDefaults(opts FetchOptions) FetchOptions {
	if opts.Client == nil {
		opts.Client = NewFetchClient()
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "patchnet"
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	return opts
}

// sink receives a transfer's bytes in order.
type sink interface {
	io.Writer
	// restart prepares for the whole artifact again: the server ignored a
	// Range request although the sink holds the first held bytes.
	restart(held int64) error
}

// transfer is one request for the bytes of url from have on, copied into a
// sink: the HTTP, Range, declared-length and byte-count logic that FetchURL
// and StreamURL share.
type transfer struct {
	url  string
	want Want
	opts FetchOptions
	have int64 // leading bytes of the artifact the sink holds
	sink sink
}

func (t *transfer) run(ctx context.Context) error {
	resp, err := t.request(ctx)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := t.checkResponse(resp); err != nil {
		return err
	}
	n, err := copyCounted(ctx, t.sink, resp.Body, t.want.Size-t.have, t.opts.StallTimeout, t.progress)
	t.have += n
	if err != nil {
		return err
	}
	if t.have < t.want.Size {
		return fmt.Errorf("server closed after %d of %d bytes", t.have, t.want.Size)
	}
	return nil
}

func (t *transfer) progress(n int64) {
	if t.opts.Progress != nil {
		t.opts.Progress(t.have+n, t.want.Size)
	}
}

func (t *transfer) request(ctx context.Context) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("User-Agent", t.opts.UserAgent)
	req.Header.Set("Accept-Encoding", "identity")
	if t.have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", t.have))
	}
	resp, err := t.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("requesting: %w", err)
	}
	return resp, nil
}

// checkResponse accepts 206 with a Content-Range continuing the sink's
// prefix, or 200 (then the sink restarts: the server sends everything again).
func (t *transfer) checkResponse(resp *http.Response) error {
	switch {
	case resp.StatusCode == http.StatusPartialContent && t.have > 0:
		return t.checkContentRange(resp.Header.Get("Content-Range"))
	case resp.StatusCode == http.StatusOK:
		if t.have > 0 {
			if err := t.sink.restart(t.have); err != nil {
				return err
			}
			t.have = 0
		}
		return t.checkLength(resp.ContentLength)
	}
	return fmt.Errorf("server answered %s", resp.Status)
}

// checkContentRange wants "bytes HAVE-END/TOTAL" with TOTAL the announced
// size (or "*").
func (t *transfer) checkContentRange(cr string) error {
	spec, ok := strings.CutPrefix(cr, "bytes ")
	rng, total, ok2 := strings.Cut(spec, "/")
	first, _, ok3 := strings.Cut(rng, "-")
	start, err := strconv.ParseInt(first, 10, 64)
	if !ok || !ok2 || !ok3 || err != nil || start != t.have {
		return fmt.Errorf("server answered range %q to a request for bytes %d-", clip(cr), t.have)
	}
	if total == "*" {
		return nil
	}
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return fmt.Errorf("server answered range %q: bad total", clip(cr))
	}
	return t.checkLength(size)
}

// checkLength compares the artifact length the server declared with the
// announcement. A declaration is only a hint (bytes are counted anyway), but
// a server that admits to a different size is refused before anything is
// read.
func (t *transfer) checkLength(declared int64) error {
	switch {
	case declared < 0:
		return nil
	case declared > t.want.Size:
		return fmt.Errorf("%w: server declares %d bytes, announced %d", trust.ErrOversized, declared, t.want.Size)
	case declared < t.want.Size:
		return fmt.Errorf("%w: server declares %d bytes, announced %d", trust.ErrDigestMismatch, declared, t.want.Size)
	}
	return nil
}

// skipWriter is StreamURL's sink: it cannot rewind the caller's writer, so
// a restart drops the bytes the writer already holds as they arrive again.
type skipWriter struct {
	w    io.Writer
	skip int64
	n    int64 // bytes passed to w
}

func (s *skipWriter) Write(p []byte) (int, error) {
	k := min(int64(len(p)), s.skip)
	s.skip -= k
	if int(k) == len(p) {
		return len(p), nil
	}
	m, err := s.w.Write(p[k:])
	s.n += int64(m)
	return int(k) + m, err
}

func (s *skipWriter) restart(held int64) error {
	s.skip = held
	return nil
}

// fetch is one FetchURL: a transfer into dst's partial file, checked and
// moved into place.
type fetch struct {
	url, dst, part string
	want           Want
	opts           FetchOptions
	file           *os.File
	hash           hash.Hash
	have           int64
}

// run downloads and verifies. A digest mismatch after resuming may be the
// fault of the prefix (from another mirror, or an earlier bad transfer), so
// it is retried once from the first byte before it counts.
func (f *fetch) run(ctx context.Context) error {
	if err := f.openPart(); err != nil {
		return err
	}
	defer func() { f.file.Close() }()
	resumed := f.have > 0
	err := f.complete(ctx)
	if resumed && errors.Is(err, trust.ErrDigestMismatch) {
		if err := f.openPart(); err != nil { // discard removed the part
			return err
		}
		err = f.complete(ctx)
	}
	return err
}

func (f *fetch) complete(ctx context.Context) error {
	if f.have < f.want.Size {
		if err := f.download(ctx); err != nil {
			return err
		}
	}
	return f.finish()
}

// openPart opens the partial file and hashes the prefix it already holds.
func (f *fetch) openPart() error {
	file, err := os.OpenFile(f.part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening partial file: %w", err)
	}
	f.file, f.hash = file, sha256.New()
	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("reading partial file: %w", err)
	}
	f.have = st.Size()
	if f.have > f.want.Size {
		return f.restart(f.have)
	}
	if _, err := io.Copy(f.hash, io.NewSectionReader(file, 0, f.have)); err != nil {
		return fmt.Errorf("hashing partial file: %w", err)
	}
	return nil
}

// Write appends to the partial file and its hash: fetch is the sink of its
// transfer.
func (f *fetch) Write(p []byte) (int, error) {
	n, err := f.file.Write(p)
	f.hash.Write(p[:n])
	return n, err
}

// restart discards the partial file's content.
func (f *fetch) restart(int64) error {
	if err := f.file.Truncate(0); err != nil {
		return fmt.Errorf("truncating partial file: %w", err)
	}
	if _, err := f.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seeking partial file: %w", err)
	}
	f.have = 0
	f.hash.Reset()
	return nil
}

func (f *fetch) download(ctx context.Context) error {
	if _, err := f.file.Seek(f.have, io.SeekStart); err != nil {
		return fmt.Errorf("seeking partial file: %w", err)
	}
	t := &transfer{url: f.url, want: f.want, opts: f.opts, have: f.have, sink: f}
	err := t.run(ctx)
	f.have = t.have
	if errors.Is(err, trust.ErrOversized) {
		f.discard() // known bad: resuming from it would only fail again
	}
	return err
}

// finish verifies the digest and moves the part into place.
func (f *fetch) finish() error {
	var got Digest
	f.hash.Sum(got[:0])
	if got != f.want.SHA256 {
		f.discard()
		return fmt.Errorf("%w: sha256 of %d bytes is %s, announced %s", trust.ErrDigestMismatch,
			f.have, hex.EncodeToString(got[:]), f.want.SHA256)
	}
	if err := f.file.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", f.part, err)
	}
	if err := os.Rename(f.part, f.dst); err != nil {
		return fmt.Errorf("moving verified artifact into place: %w", err)
	}
	return fsutil.SyncDir(filepath.Dir(f.dst))
}

// discard removes the part: its bytes are known bad, resuming from them
// would only fail again.
func (f *fetch) discard() {
	f.file.Close()
	os.Remove(f.part)
}

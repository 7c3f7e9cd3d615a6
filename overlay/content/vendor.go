package content

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// URLFetcher streams an artifact from a vendor URL. The node can plug in
// the updates package's resumable fetcher; HTTPFetcher is the default.
type URLFetcher interface {
	// FetchURL writes the body of url from byte offset on into w. want
	// carries the announced size (no more than want.Size-offset bytes may be
	// written) and SHA-256 (an implementation that fetches the whole file
	// anyway, like the updates package's, may check it itself); the caller
	// checks the SHA-256 of everything written in any case.
	FetchURL(ctx context.Context, url string, offset int64, want Want, w io.Writer) error
}

// HTTPFetcher is a minimal URLFetcher over net/http: streamed, resumed with
// a Range request, and bounded by the announced size.
type HTTPFetcher struct {
	// Client sends the requests; nil uses a client whose only timeout is
	// HTTPHeaderTimeout for the response headers (bodies may take long, the
	// context bounds them).
	Client *http.Client
}

var _ URLFetcher = (*HTTPFetcher)(nil)

func (f *HTTPFetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = HTTPHeaderTimeout
	return &http.Client{Transport: tr}
}

// FetchURL implements URLFetcher.
func (f *HTTPFetcher) FetchURL(ctx context.Context, url string, offset int64, want Want, w io.Writer) error {
	size := want.Size
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := skipTo(resp, offset)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	remain, left := size-offset, resp.ContentLength
	if resp.StatusCode == http.StatusOK && left > 0 {
		left -= offset // the skipped prefix was part of the length
	}
	if left > remain {
		return fmt.Errorf("fetching %s: body of %d bytes exceeds the announced size %d: %w", url, resp.ContentLength, size, ErrEndlessData)
	}
	n, err := io.Copy(w, io.LimitReader(body, remain+1))
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	if n > remain {
		return fmt.Errorf("fetching %s: more than the announced %d bytes: %w", url, size, ErrEndlessData)
	}
	return nil
}

// skipTo positions the body at offset: a 206 must start there, a 200 (the
// server ignored Range) is read past the first offset bytes.
func skipTo(resp *http.Response, offset int64) (io.Reader, error) {
	switch resp.StatusCode {
	case http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			return nil, fmt.Errorf("skipping to byte %d: %w", offset, err)
		}
		return resp.Body, nil
	case http.StatusPartialContent:
		start, err := rangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != offset {
			return nil, fmt.Errorf("vendor answered Content-Range %q to a request from byte %d", resp.Header.Get("Content-Range"), offset)
		}
		return resp.Body, nil
	}
	return nil, fmt.Errorf("vendor answered %s", resp.Status)
}

// rangeStart parses the first byte of "bytes START-END/TOTAL".
func rangeStart(h string) (int64, error) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, fmt.Errorf("malformed Content-Range %q", h)
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, fmt.Errorf("malformed Content-Range %q", h)
	}
	return strconv.ParseInt(start, 10, 64)
}

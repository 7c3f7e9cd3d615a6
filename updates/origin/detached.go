package origin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/patchnet/patchnet/trust"
)

// signatureSuffixes are where a detached signature is looked for, beside
// the artifact's URL, in order.
var signatureSuffixes = []string{".asc", ".sig"}

// detached looks for a detached signature beside each allowed URL in order
// and verifies the first one found over the file. It returns none if there
// is none anywhere.
func (c *Checker) detached(ctx context.Context, allowed []string, file string, r *Report) ([]Signature, error) {
	for _, u := range allowed {
		for _, suffix := range signatureSuffixes {
			sig, err := c.lookFor(ctx, u+suffix, r)
			if err != nil {
				return nil, fmt.Errorf("fetching %s: %w", clip(u+suffix), err)
			}
			if sig != nil {
				return c.verifyFound(u+suffix, file, sig)
			}
		}
	}
	r.Notes = append(r.Notes, fmt.Sprintf("no detached signature (%s) beside %d allowed URL(s)",
		strings.Join(signatureSuffixes, ", "), len(allowed)))
	return nil, nil
}

// lookFor fetches the signature at sigURL: nil, noted in r, where the
// policy refuses the place or what is there is no OpenPGP data; nil where
// there is nothing.
func (c *Checker) lookFor(ctx context.Context, sigURL string, r *Report) ([]byte, error) {
	if why := refusal(c.origins, sigURL); why != "" {
		r.Notes = append(r.Notes, fmt.Sprintf("%s not looked at: %s", clip(sigURL), why))
		return nil, nil
	}
	sig, err := c.probe(ctx, sigURL)
	if err != nil || sig == nil {
		return nil, err
	}
	if !looksLikeOpenPGP(sig) {
		r.Notes = append(r.Notes, fmt.Sprintf("%s is not an OpenPGP signature: taken as none", clip(sigURL)))
		return nil, nil
	}
	return sig, nil
}

// verifyFound verifies the signature found at sigURL over file.
func (c *Checker) verifyFound(sigURL, file string, sig []byte) ([]Signature, error) {
	s, err := verifyDetached(c.keys, file, sig)
	if err != nil {
		return nil, fmt.Errorf("checking %s: %w", clip(sigURL), err)
	}
	s.Source = sigURL
	return []Signature{s}, nil
}

// verifyDetached verifies a binary or armored detached signature over file.
func verifyDetached(keys openpgp.EntityList, file string, sig []byte) (Signature, error) {
	bin, err := dearmor(sig)
	if err != nil {
		return Signature{}, err
	}
	f, err := os.Open(file)
	if err != nil {
		return Signature{}, fmt.Errorf("opening artifact: %w", err)
	}
	defer f.Close()
	s, err := verifySignature(keys, f, bin)
	s.Kind = KindDetached
	return s, err
}

// probe fetches a signature file: nil if the server says there is none
// (404, 410, or 403 as object stores answer for a missing key).
func (c *Checker) probe(ctx context.Context, sigURL string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	resp, err := c.get(ctx, sigURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden:
		return nil, nil
	default:
		return nil, fmt.Errorf("server answered %s", resp.Status)
	}
	return readSignature(resp.Body)
}

func (c *Checker) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	ua := c.fetch.UserAgent
	if ua == "" {
		ua = "patchnet"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.fetch.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("requesting: %w", err)
	}
	return resp, nil
}

// readSignature reads a signature body of at most MaxSignatureBytes.
func readSignature(body io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, MaxSignatureBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if len(b) > MaxSignatureBytes {
		return nil, fmt.Errorf("%w: a signature of more than %d bytes", trust.ErrOversized, MaxSignatureBytes)
	}
	return b, nil
}

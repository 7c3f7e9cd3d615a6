package origin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/patchnet/patchnet/updates"
)

// Checker checks artifacts against one publisher's Policy, its origins
// parsed and its pinned keys loaded once. It is safe for concurrent use.
type Checker struct {
	policy  Policy
	origins []prefix
	keys    openpgp.EntityList
	fetch   updates.FetchOptions
}

// NewChecker validates p, loads its keys and returns a Checker that
// fetches with opts (its zero value is usable). The client in opts, or
// updates.NewFetchClient(), is copied with every redirect hop screened by
// the policy, so an allowed URL cannot bounce the fetch elsewhere.
func NewChecker(p Policy, opts updates.FetchOptions) (*Checker, error) {
	origins, err := parseOrigins(p.Origins)
	if err != nil {
		return nil, fmt.Errorf("building origin checker: %w", err)
	}
	keys, err := loadKeys(p.Keys)
	if err != nil {
		return nil, fmt.Errorf("building origin checker: %w", err)
	}
	if p.requireSignature() && len(keys) == 0 {
		return nil, errors.New("building origin checker: keys is empty: pin the vendor's OpenPGP keys, or set allow_unsigned = true")
	}
	c := &Checker{policy: p, origins: origins, keys: keys, fetch: opts}
	c.fetch.Client = c.screenedClient(opts.Client)
	return c, nil
}

// Check is NewChecker(p, updates.FetchOptions{}) then Checker.Check, for a
// single artifact.
func Check(ctx context.Context, p Policy, art *updates.Artifact, dir string) (*Report, error) {
	c, err := NewChecker(p, updates.FetchOptions{})
	if err != nil {
		return &Report{}, err
	}
	return c.Check(ctx, art, dir)
}

// Allows screens rawURL against the checker's policy (Policy.Allows).
func (c *Checker) Allows(rawURL string) error { return allows(c.origins, rawURL) }

// Check obtains art's bytes from the first of its URLs that the policy
// allows and that yields them, and verifies the vendor signatures over them
// (see the package documentation). On success the verified file is
// Report.Path, dir/NAME (dir must exist). On error the file is removed,
// the error matches trust.ErrUntrusted if the artifact was refused (rather
// than unobtainable), and the Report still says what was tried and why
// each URL was refused or failed. Two Checks of the same artifact name
// must not share dir at once.
func (c *Checker) Check(ctx context.Context, art *updates.Artifact, dir string) (*Report, error) {
	if art == nil {
		return &Report{}, errors.New("checking artifact: no artifact")
	}
	r := &Report{Name: art.Name, Size: art.Size, SHA256: art.SHA256}
	if err := art.Validate(); err != nil {
		return r, fmt.Errorf("checking artifact %q: %w", clip(art.Name), err)
	}
	allowed := c.screen(art.URLs, r)
	if len(allowed) == 0 {
		return r, fmt.Errorf("checking %s: %w: none of its %d URLs is allowed: %s", art.Name, ErrOutsideOrigins, len(art.URLs), r.refusals())
	}
	dst := filepath.Join(dir, art.Name)
	if err := c.obtain(ctx, art, allowed, dst, r); err != nil {
		removeArtifact(dst)
		return r, fmt.Errorf("checking %s: %w", art.Name, err)
	}
	r.Path = dst
	return r, nil
}

// screen returns the URLs the policy allows, in order, and reports the
// others.
func (c *Checker) screen(urls []string, r *Report) []string {
	var allowed []string
	for _, u := range urls {
		if why := refusal(c.origins, u); why != "" {
			r.Refused = append(r.Refused, URLResult{URL: clip(u), Reason: clip(why)})
			continue
		}
		allowed = append(allowed, u)
	}
	return allowed
}

// obtain fetches and verifies.
func (c *Checker) obtain(ctx context.Context, art *updates.Artifact, allowed []string, dst string, r *Report) error {
	if err := c.download(ctx, art, allowed, dst, r); err != nil {
		return err
	}
	if len(c.keys) == 0 {
		r.Unsigned = "no vendor key is pinned for this publisher: signatures not checked"
		return nil
	}
	sigs, err := c.signatures(ctx, art, allowed, dst, r)
	if err != nil {
		return err
	}
	return c.decide(sigs, r)
}

// download fetches the bytes from the first allowed URL that yields them.
// Stale bytes of an earlier call are removed first: every byte comes from
// an URL allowed now.
func (c *Checker) download(ctx context.Context, art *updates.Artifact, allowed []string, dst string, r *Report) error {
	removeArtifact(dst)
	var errs []error
	for _, u := range allowed {
		err := updates.FetchURL(ctx, u, updates.WantArtifact(art), dst, c.fetch)
		if err == nil {
			r.URL = u
			return nil
		}
		r.Failed = append(r.Failed, URLResult{URL: clip(u), Reason: clip(err.Error())})
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("no allowed URL yielded the announced bytes: %w", errors.Join(errs...))
}

// signatures verifies the rpm's own signatures (method rpm) and a detached
// signature, when there are.
func (c *Checker) signatures(ctx context.Context, art *updates.Artifact, allowed []string, dst string, r *Report) ([]Signature, error) {
	var sigs []Signature
	if art.Method == updates.MethodRPM {
		s, err := verifyRPM(dst, c.keys)
		if err != nil {
			return nil, fmt.Errorf("verifying the rpm's signatures: %w", err)
		}
		if len(s) == 0 {
			r.Notes = append(r.Notes, "the rpm carries no OpenPGP signature")
		}
		sigs = append(sigs, s...)
	}
	s, err := c.detached(ctx, allowed, dst, r)
	if err != nil {
		return nil, fmt.Errorf("verifying the detached signature: %w", err)
	}
	return append(sigs, s...), nil
}

// decide accepts signed bytes, and unsigned ones only where the policy
// does not require a signature.
func (c *Checker) decide(sigs []Signature, r *Report) error {
	r.Signatures = sigs
	switch {
	case len(sigs) > 0:
		return nil
	case c.policy.requireSignature():
		return fmt.Errorf("%w: the policy requires one (%s)", ErrUnsigned, strings.Join(r.Notes, "; "))
	}
	r.Unsigned = "no vendor signature found, and the policy does not require one"
	return nil
}

// screenedClient copies base (or the default fetch client) with every
// redirect hop screened by the policy.
func (c *Checker) screenedClient(base *http.Client) *http.Client {
	if base == nil {
		base = updates.NewFetchClient()
	}
	cl := *base
	next := base.CheckRedirect
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= MaxRedirects {
			return fmt.Errorf("stopped after %d redirects", MaxRedirects)
		}
		if err := c.screenHop(req.URL); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &cl
}

// screenHop screens a redirect target like an artifact URL, except that
// its query is allowed: the origin's server chose it, as object stores and
// CDNs do for signed download links, not the announcement. The host and
// path must still be under an origin, so a query cannot lead elsewhere
// but through another redirect, which is screened in turn.
func (c *Checker) screenHop(u *url.URL) error {
	hop := *u
	hop.RawQuery, hop.ForceQuery = "", false
	if why := refusalURL(c.origins, &hop); why != "" {
		return fmt.Errorf("following redirect: %w: %s: %s", ErrOutsideOrigins, clip(u.Redacted()), why)
	}
	return nil
}

// removeArtifact removes a file and its partial download.
func removeArtifact(dst string) {
	os.Remove(dst)
	os.Remove(dst + ".part")
}

package origin

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/patchnet/patchnet/updates"
)

// prefix is one parsed origin: a canonical scheme, host and port, and a
// decoded path that ends in "/" (a directory) or names one file.
type prefix struct {
	scheme, host string
	port         int
	path         string
}

// covers reports whether the decoded path p lies under o's path on a
// segment boundary.
func (o prefix) covers(p string) bool {
	if strings.HasSuffix(o.path, "/") {
		return strings.HasPrefix(p, o.path)
	}
	return p == o.path || strings.HasPrefix(p, o.path+"/")
}

// parsePrefix parses an origin with the same rules as a URL to screen.
func parsePrefix(s string) (prefix, error) {
	u, err := parseShape(s)
	if err != nil {
		return prefix{}, err
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return canonical(u)
}

// allows screens rawURL against origins: nil, or an error matching
// ErrOutsideOrigins that names the URL and the reason.
func allows(origins []prefix, rawURL string) error {
	if why := refusal(origins, rawURL); why != "" {
		return fmt.Errorf("%w: %s: %s", ErrOutsideOrigins, clip(rawURL), why)
	}
	return nil
}

// refusal says why origins do not cover rawURL, "" if they do.
func refusal(origins []prefix, rawURL string) string {
	u, err := parseShape(rawURL)
	if err != nil {
		return err.Error()
	}
	return refusalURL(origins, u)
}

// refusalURL is refusal for a parsed URL (a redirect target, say).
func refusalURL(origins []prefix, u *url.URL) string {
	if err := checkParsed(u); err != nil {
		return err.Error()
	}
	c, err := canonical(u)
	if err != nil {
		return err.Error()
	}
	for _, o := range origins {
		if o.scheme == c.scheme && o.host == c.host && o.port == c.port && o.covers(c.path) {
			return ""
		}
	}
	return explain(origins, c)
}

// parseShape parses s as an absolute http(s) URL and refuses every shape
// that could make the server resolve it elsewhere than it reads.
func parseShape(s string) (*url.URL, error) {
	if err := updates.ValidateFetchURL(s); err != nil {
		return nil, err
	}
	if strings.ContainsAny(s, "?#") {
		return nil, errors.New("a query or fragment is not allowed")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parsing URL: %w", err)
	}
	return u, checkParsed(u)
}

// checkParsed refuses userinfo, queries, fragments and unsafe paths.
func checkParsed(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q is not http or https", clip(u.Scheme))
	case u.User != nil:
		return errors.New("userinfo is not allowed")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("a query or fragment is not allowed")
	case u.Opaque != "" || u.Host == "":
		return errors.New("want an absolute URL with a host")
	}
	return checkPath(u.EscapedPath(), u.Path)
}

// checkPath refuses what servers resolve differently: dot segments
// (decoded, and before a ";" parameter), encoded slashes and backslashes,
// NUL and control bytes, empty segments.
func checkPath(escaped, decoded string) error {
	low := strings.ToLower(escaped)
	for _, bad := range []string{"%2f", "%5c", `\`} {
		if strings.Contains(low, bad) {
			return fmt.Errorf("path %q holds an encoded slash or a backslash", clip(escaped))
		}
	}
	if decoded != "" && !strings.HasPrefix(decoded, "/") {
		return fmt.Errorf("path %q is not absolute", clip(decoded))
	}
	for i := 0; i < len(decoded); i++ {
		if decoded[i] < ' ' || decoded[i] == 0x7f {
			return fmt.Errorf("path %q holds control byte %#x", clip(escaped), decoded[i])
		}
	}
	return checkSegments(decoded)
}

func checkSegments(decoded string) error {
	segs := strings.Split(decoded, "/")
	for i, seg := range segs[min(1, len(segs)):] {
		name, _, _ := strings.Cut(seg, ";")
		if name == "." || name == ".." {
			return fmt.Errorf("path %q holds a dot segment", clip(decoded))
		}
		if seg == "" && i < len(segs)-2 {
			return fmt.Errorf("path %q holds an empty segment", clip(decoded))
		}
	}
	return nil
}

// canonical lowercases the host and makes the port explicit.
func canonical(u *url.URL) (prefix, error) {
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return prefix{}, errors.New("want a host")
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return prefix{}, fmt.Errorf("host %q is not ASCII (write it in punycode)", clip(host))
		}
	}
	port, err := portOf(u)
	if err != nil {
		return prefix{}, err
	}
	return prefix{scheme: u.Scheme, host: host, port: port, path: u.Path}, nil
}

func portOf(u *url.URL) (int, error) {
	p := u.Port()
	if p == "" {
		if u.Scheme == "https" {
			return 443, nil
		}
		return 80, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not in 1..65535", clip(p))
	}
	return n, nil
}

// explain says why no origin covers c, naming the closest one.
func explain(origins []prefix, c prefix) string {
	var sameHost []prefix
	for _, o := range origins {
		if o.host == c.host {
			sameHost = append(sameHost, o)
		}
	}
	if len(sameHost) == 0 {
		return fmt.Sprintf("host %s is not in the origins", c.host)
	}
	for _, o := range sameHost {
		if o.scheme != c.scheme && o.covers(c.path) {
			return fmt.Sprintf("scheme %s is not allowed: the origins list %s only over %s", c.scheme, c.host, o.scheme)
		}
	}
	for _, o := range sameHost {
		if o.scheme == c.scheme && o.port != c.port && o.covers(c.path) {
			return fmt.Sprintf("port %d is not allowed: the origins list %s on port %d", c.port, c.host, o.port)
		}
	}
	return fmt.Sprintf("path %s is not under any origin of %s (%s)", c.path, c.host, pathsOf(sameHost))
}

func pathsOf(list []prefix) string {
	var out []string
	for _, o := range list {
		out = append(out, o.path)
	}
	return strings.Join(out, ", ")
}

// clip bounds a string quoted in an error or a report.
func clip(s string) string {
	if len(s) <= MaxReasonLength {
		return s
	}
	return s[:MaxReasonLength] + "…"
}

package origin

import (
	"errors"
	"fmt"
)

// Policy is what a supernode requires of one publisher's artifacts: where
// their bytes may come from and which vendor keys must have signed them.
// It belongs to the supernode's configuration, never to an announcement.
type Policy struct {
	// Origins are URL prefixes the artifact may be fetched from, such as
	// "https://deb.example.org/pool/": scheme, host and port must match
	// exactly (host case and a default port aside) and the path must lie
	// under the prefix's path on a segment boundary. Required.
	Origins []string `toml:"origins"`
	// Keys are paths to the vendor's OpenPGP public keys (armored or
	// binary; a file may hold several), pinned by the operator.
	Keys []string `toml:"keys"`
	// AllowUnsigned accepts an artifact that carries no vendor signature
	// (a vendor that does not sign). Default false: no signature verifiable
	// against Keys, no co-signature — the zero value, so a config that
	// leaves the key out is the strict one. A signature that is present but
	// does not verify is refused whatever this says.
	AllowUnsigned bool `toml:"allow_unsigned"`
}

// DefaultPolicy requires a vendor signature (the zero value does); the
// caller sets Origins and Keys.
func DefaultPolicy() Policy {
	return Policy{AllowUnsigned: false} // a stolen publisher key alone must not suffice
}

// requireSignature reports whether an unsigned artifact is refused.
func (p Policy) requireSignature() bool { return !p.AllowUnsigned }

// Validate names the first field that is wrong and its value. It reads the
// key files, so a missing or unreadable key is found when the configuration
// is loaded rather than at the first co-signature.
func (p Policy) Validate() error {
	if _, err := parseOrigins(p.Origins); err != nil {
		return fmt.Errorf("origin policy: %w", err)
	}
	if _, err := loadKeys(p.Keys); err != nil {
		return fmt.Errorf("origin policy: %w", err)
	}
	if p.requireSignature() && len(p.Keys) == 0 {
		return errors.New("origin policy: keys is empty: pin the vendor's OpenPGP keys, or set allow_unsigned = true for a vendor that does not sign")
	}
	return nil
}

// Allows returns nil if rawURL lies under one of p's origins, and otherwise
// an error matching ErrOutsideOrigins that says why: a host that is not
// listed, http where only https is, another port, a path outside the
// listed prefixes, or a URL shape that could reach elsewhere (dot segments,
// encoded slashes, backslashes, userinfo, a query or a fragment).
func (p Policy) Allows(rawURL string) error {
	origins, err := parseOrigins(p.Origins)
	if err != nil {
		return fmt.Errorf("screening %s: %w", clip(rawURL), err)
	}
	return allows(origins, rawURL)
}

func parseOrigins(list []string) ([]prefix, error) {
	if len(list) == 0 {
		return nil, errors.New("origins: required, at least one vendor URL prefix")
	}
	if len(list) > MaxOrigins {
		return nil, fmt.Errorf("origins: %d entries exceed %d", len(list), MaxOrigins)
	}
	out := make([]prefix, 0, len(list))
	for i, s := range list {
		o, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("origins[%d] %q: %w", i, clip(s), err)
		}
		out = append(out, o)
	}
	return out, nil
}

package updates

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// Validate checks that a is well formed: required fields present, every list
// and string within its bound, every range as OSV defines it, every version
// parseable in its ecosystem. The error names the field, e.g.
// "affected[0].ranges[1].events[0]: introduced and fixed both set".
func (a *Announcement) Validate() error {
	if err := a.validateHeader(); err != nil {
		return fmt.Errorf("invalid announcement: %w", err)
	}
	if len(a.Affected) > MaxAffected {
		return fmt.Errorf("invalid announcement: affected: %d entries exceeds %d", len(a.Affected), MaxAffected)
	}
	for i := range a.Affected {
		if err := a.Affected[i].validate(); err != nil {
			return fmt.Errorf("invalid announcement: affected[%d]%w", i, err)
		}
	}
	if err := a.Patchnet.validate(a.Modified); err != nil {
		return fmt.Errorf("invalid announcement: patchnet.%w", err)
	}
	return nil
}

func (a *Announcement) validateHeader() error {
	if err := validateID("id", a.ID); err != nil {
		return err
	}
	if a.Modified.IsZero() {
		return fmt.Errorf("modified: required")
	}
	for _, list := range []struct {
		name string
		ids  []string
	}{{"aliases", a.Aliases}, {"upstream", a.Upstream}, {"related", a.Related}} {
		if len(list.ids) > MaxAliases {
			return fmt.Errorf("%s: %d entries exceeds %d", list.name, len(list.ids), MaxAliases)
		}
		for i, id := range list.ids {
			if err := validateID(fmt.Sprintf("%s[%d]", list.name, i), id); err != nil {
				return err
			}
		}
	}
	if len(a.Summary) > MaxSummaryLength {
		return fmt.Errorf("summary: %d bytes exceeds %d", len(a.Summary), MaxSummaryLength)
	}
	if len(a.Details) > MaxDetailsLength {
		return fmt.Errorf("details: %d bytes exceeds %d", len(a.Details), MaxDetailsLength)
	}
	if len(a.Severity) > MaxReferences {
		return fmt.Errorf("severity: %d entries exceeds %d", len(a.Severity), MaxReferences)
	}
	return validateReferences(a.References)
}

func validateReferences(refs []Reference) error {
	if len(refs) > MaxReferences {
		return fmt.Errorf("references: %d entries exceeds %d", len(refs), MaxReferences)
	}
	for i, r := range refs {
		if len(r.URL) > MaxURLLength || len(r.Type) > MaxNameLength {
			return fmt.Errorf("references[%d]: longer than %d bytes", i, MaxURLLength)
		}
	}
	return nil
}

// validateID accepts OSV-style ids: letters, digits and "-_.:".
func validateID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%s: required", field)
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("%s: %q is longer than %d bytes", field, clip(id), MaxIDLength)
	}
	for _, c := range id {
		if !isIDRune(c) {
			return fmt.Errorf("%s: %q: character %q not allowed (letters, digits, - _ . :)", field, clip(id), c)
		}
	}
	return nil
}

func isIDRune(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)
}

// validate returns errors that start with the sub-field, so the caller can
// prefix "affected[i]".
func (af *Affected) validate() error {
	p := af.Package
	if p.Ecosystem == "" || len(p.Ecosystem) > MaxNameLength {
		return fmt.Errorf(".package.ecosystem: required, at most %d bytes", MaxNameLength)
	}
	if p.Name == "" || len(p.Name) > MaxNameLength {
		return fmt.Errorf(".package.name: required, at most %d bytes", MaxNameLength)
	}
	if len(p.PURL) > MaxURLLength {
		return fmt.Errorf(".package.purl: longer than %d bytes", MaxURLLength)
	}
	if len(af.Ranges) == 0 && len(af.Versions) == 0 {
		return fmt.Errorf(": neither ranges nor versions given (OSV would read that as every version)")
	}
	if len(af.Ranges) > MaxRanges {
		return fmt.Errorf(".ranges: %d entries exceeds %d", len(af.Ranges), MaxRanges)
	}
	if len(af.Versions) > MaxVersions {
		return fmt.Errorf(".versions: %d entries exceeds %d", len(af.Versions), MaxVersions)
	}
	for i, v := range af.Versions {
		if err := checkVersionText(v); err != nil {
			return fmt.Errorf(".versions[%d]: %w", i, err)
		}
	}
	for i := range af.Ranges {
		if err := af.Ranges[i].validate(p.Ecosystem); err != nil {
			return fmt.Errorf(".ranges[%d]%w", i, err)
		}
	}
	return nil
}

func (r *Range) validate(ecosystem string) error {
	switch r.Type {
	case RangeEcosystem, RangeSemver:
	case RangeGit:
		if r.Repo == "" {
			return fmt.Errorf(".repo: required for a GIT range")
		}
	default:
		return fmt.Errorf(".type: %q is not ECOSYSTEM, SEMVER or GIT", clip(string(r.Type)))
	}
	if len(r.Repo) > MaxURLLength {
		return fmt.Errorf(".repo: longer than %d bytes", MaxURLLength)
	}
	if len(r.Events) == 0 {
		return fmt.Errorf(".events: required")
	}
	if len(r.Events) > MaxEvents {
		return fmt.Errorf(".events: %d entries exceeds %d", len(r.Events), MaxEvents)
	}
	introduced := false
	for i, e := range r.Events {
		kind, v, err := e.kindAndVersion()
		if err != nil {
			return fmt.Errorf(".events[%d]: %w", i, err)
		}
		introduced = introduced || kind == "introduced"
		if err := r.validateEventVersion(ecosystem, kind, v); err != nil {
			return fmt.Errorf(".events[%d].%s: %w", i, kind, err)
		}
	}
	if !introduced {
		return fmt.Errorf(".events: no introduced event")
	}
	return nil
}

func (r *Range) validateEventVersion(ecosystem, kind, v string) error {
	if kind == "introduced" && v == "0" || kind == "limit" && v == "*" {
		return nil
	}
	switch r.Type {
	case RangeSemver:
		_, err := parseSemver(v)
		return err
	case RangeEcosystem:
		err := ValidVersion(ecosystem, v)
		if err != nil && EcosystemFamily(ecosystem) == FamilyUnknown {
			// Another ecosystem's order is unknown here: keep the range,
			// matching will say it cannot evaluate it.
			return checkVersionText(v)
		}
		return err
	}
	return checkVersionText(v)
}

// kindAndVersion returns which event field is set; exactly one must be.
func (e Event) kindAndVersion() (kind, version string, err error) {
	set := []string{}
	for _, f := range []struct{ name, v string }{
		{"introduced", e.Introduced}, {"fixed", e.Fixed},
		{"last_affected", e.LastAffected}, {"limit", e.Limit},
	} {
		if f.v != "" {
			set = append(set, f.name)
			kind, version = f.name, f.v
		}
	}
	switch len(set) {
	case 0:
		return "", "", fmt.Errorf("no event field set (introduced, fixed, last_affected or limit)")
	case 1:
		return kind, version, nil
	}
	return "", "", fmt.Errorf("%s both set", strings.Join(set, " and "))
}

// validate returns errors starting with the patchnet sub-field.
func (p *Patchnet) validate(modified time.Time) error {
	if p.Version == 0 {
		return fmt.Errorf("version: required, at least 1")
	}
	if err := validateCategories(p.Categories); err != nil {
		return err
	}
	if p.Expires.IsZero() {
		return fmt.Errorf("expires: required")
	}
	if !p.Expires.After(modified) {
		return fmt.Errorf("expires: %s is not after modified %s", p.Expires.Format(time.RFC3339), modified.Format(time.RFC3339))
	}
	if p.Expires.Sub(modified) > MaxValidity {
		return fmt.Errorf("expires: %s is more than %s after modified", p.Expires.Format(time.RFC3339), MaxValidity)
	}
	if p.Rollout != nil && p.Rollout.Spread < 0 {
		return fmt.Errorf("rollout.spread: %s is negative", time.Duration(p.Rollout.Spread))
	}
	if p.Artifact == nil {
		if len(p.Categories) == 1 && p.Categories[0] == CategoryAnnouncement {
			return nil
		}
		return fmt.Errorf("artifact: required unless the only category is %q", CategoryAnnouncement)
	}
	if err := p.Artifact.Validate(); err != nil {
		return fmt.Errorf("artifact.%w", err)
	}
	return nil
}

func validateCategories(cs []Category) error {
	if len(cs) == 0 {
		return fmt.Errorf("categories: at least one of %v required", Categories)
	}
	seen := map[Category]bool{}
	for i, c := range cs {
		if !validCategory(c) {
			return fmt.Errorf("categories[%d]: %q is not one of %v", i, clip(string(c)), Categories)
		}
		if seen[c] {
			return fmt.Errorf("categories[%d]: %q repeated", i, c)
		}
		seen[c] = true
	}
	return nil
}

func validCategory(c Category) bool {
	for _, v := range Categories {
		if c == v {
			return true
		}
	}
	return false
}

// ValidMethod reports whether m is one of Methods.
func ValidMethod(m Method) bool {
	for _, v := range Methods {
		if m == v {
			return true
		}
	}
	return false
}

// Validate checks an artifact; errors start with the field name.
func (ar *Artifact) Validate() error {
	if err := validateFileName(ar.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if ar.Size <= 0 || ar.Size > MaxArtifactSize {
		return fmt.Errorf("size: %d is not in 1..%d", ar.Size, int64(MaxArtifactSize))
	}
	if ar.SHA256.IsZero() {
		return fmt.Errorf("sha256: required")
	}
	if ar.ContentID != "" {
		if err := ValidateContentID(ar.ContentID); err != nil {
			return fmt.Errorf("content_id: %w", err)
		}
	}
	if !ValidMethod(ar.Method) {
		return fmt.Errorf("method: %q is not one of %v", clip(string(ar.Method)), Methods)
	}
	if len(ar.Instructions) > MaxDetailsLength {
		return fmt.Errorf("instructions: %d bytes exceeds %d", len(ar.Instructions), MaxDetailsLength)
	}
	return validateURLs(ar.URLs)
}

func validateURLs(urls []string) error {
	if len(urls) > MaxURLs {
		return fmt.Errorf("urls: %d entries exceeds %d", len(urls), MaxURLs)
	}
	for i, s := range urls {
		if err := ValidateFetchURL(s); err != nil {
			return fmt.Errorf("urls[%d]: %w", i, err)
		}
	}
	return nil
}

// ValidateFetchURL accepts absolute http and https URLs with a host.
func ValidateFetchURL(s string) error {
	if len(s) > MaxURLLength {
		return fmt.Errorf("%q is longer than %d bytes", clip(s), MaxURLLength)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("parsing URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: want an http or https URL with a host", clip(s))
	}
	return nil
}

// validateFileName accepts a plain name that is safe as a file in a
// download directory: no separators, not "." or "..", no control bytes.
func validateFileName(name string) error {
	if name == "" || len(name) > MaxNameLength {
		return fmt.Errorf("required, at most %d bytes", MaxNameLength)
	}
	if name == "." || name == ".." || path.Base(name) != name || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("%q must be a plain file name", clip(name))
	}
	for i := 0; i < len(name); i++ {
		if name[i] < ' ' || name[i] == 0x7f {
			return fmt.Errorf("%q contains control byte %#x", clip(name), name[i])
		}
	}
	return nil
}

// ValidateContentID accepts a CIDv1 string (what content.ContentID makes).
func ValidateContentID(s string) error {
	c, err := cid.Decode(s)
	if err != nil {
		return fmt.Errorf("parsing %q as a CID: %w", clip(s), err)
	}
	if c.Version() != 1 {
		return fmt.Errorf("%q is a CIDv%d, want CIDv1", clip(s), c.Version())
	}
	return nil
}

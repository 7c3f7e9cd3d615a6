package updates

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchnet/patchnet/internal/duration"
)

// PayloadType is the DSSE payload type of a signed announcement. The
// acceptance pipeline refuses any other payload type, so a signature made
// over some other document cannot be replayed as an announcement.
const PayloadType = "application/vnd.patchnet.announcement+json"

// OSVSchemaVersion is the OSV schema version announcements are written
// against; "patchnet update new" stamps it into schema_version.
const OSVSchemaVersion = "1.6.0"

// Announcement is one update: an OSV record (the fields OSV defines keep
// OSV's names and meaning) plus patchnet's own fields under the "patchnet"
// key. See SCHEMA.md for the layout and an example.
//
// An Announcement decoded from the network is untrusted until Acceptor.Accept
// returned it; DecodeAnnouncement only checks that it is well formed.
type Announcement struct {
	SchemaVersion string      `json:"schema_version,omitempty"`
	ID            string      `json:"id"`
	Modified      time.Time   `json:"modified"`
	Published     time.Time   `json:"published,omitzero"`
	Withdrawn     time.Time   `json:"withdrawn,omitzero"`
	Aliases       []string    `json:"aliases,omitempty"`
	Upstream      []string    `json:"upstream,omitempty"`
	Related       []string    `json:"related,omitempty"`
	Summary       string      `json:"summary,omitempty"`
	Details       string      `json:"details,omitempty"`
	Severity      []Severity  `json:"severity,omitempty"`
	Affected      []Affected  `json:"affected,omitempty"`
	References    []Reference `json:"references,omitempty"`
	// DatabaseSpecific is OSV's free-form extension point; patchnet keeps it
	// (it is covered by the signatures) but never acts on it.
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
	// Patchnet holds what OSV has no field for. Unknown keys inside it are
	// refused, because an agent must not silently ignore an instruction it
	// does not understand.
	Patchnet Patchnet `json:"patchnet"`
}

// Severity is OSV's severity entry (a CVSS vector, usually).
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Reference is OSV's reference entry.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Affected names one package and the versions of it an update is for.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package is OSV's package: an ecosystem ("Debian:12", "Alpine:v3.20",
// "Red Hat:enterprise_linux:9::appstream") and the name advisories of that
// ecosystem use (the source package for Debian, Ubuntu and Alpine).
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// RangeType is how a range's event versions are ordered.
type RangeType string

// OSV range types. ECOSYSTEM orders by the package's ecosystem (dpkg, rpm,
// apk rules); SEMVER by Semantic Versioning 2.0; GIT names commits, which a
// host cannot evaluate against installed packages.
const (
	RangeEcosystem RangeType = "ECOSYSTEM"
	RangeSemver    RangeType = "SEMVER"
	RangeGit       RangeType = "GIT"
)

// Range is OSV's range: a type and a list of events.
type Range struct {
	Type             RangeType       `json:"type"`
	Repo             string          `json:"repo,omitempty"`
	Events           []Event         `json:"events"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Event is one OSV range event; exactly one field is set. Introduced "0"
// means "since the first version".
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Category is what kind of update an announcement is; an announcement carries
// one or more.
type Category string

// Categories (paper, section IV.G).
const (
	CategoryBugfix       Category = "bugfix"
	CategorySecurity     Category = "security"
	CategoryEnhancement  Category = "enhancement"
	CategoryAnnouncement Category = "announcement"
)

// Categories lists every valid category, in a fixed order.
var Categories = []Category{CategoryBugfix, CategorySecurity, CategoryEnhancement, CategoryAnnouncement}

// Method is how an artifact is installed.
type Method string

// Install methods.
const (
	MethodDpkg    Method = "dpkg"
	MethodRPM     Method = "rpm"
	MethodApk     Method = "apk"
	MethodScript  Method = "script"
	MethodArchive Method = "archive"
)

// Methods lists every valid install method.
var Methods = []Method{MethodDpkg, MethodRPM, MethodApk, MethodScript, MethodArchive}

// Patchnet is patchnet's part of an announcement.
type Patchnet struct {
	// Version orders announcements of one id: an agent accepts only a version
	// higher than any it has seen for that id (rollback protection). It is
	// not the software's version.
	Version    uint64     `json:"version"`
	Categories []Category `json:"categories"`
	// Expires is required: after it, the announcement is refused (an
	// attacker replaying it cannot freeze a host on it for ever).
	Expires        time.Time `json:"expires"`
	RebootRequired bool      `json:"reboot_required,omitempty"`
	// Artifact is required unless the only category is "announcement".
	Artifact *Artifact `json:"artifact,omitempty"`
	Rollout  *Rollout  `json:"rollout,omitempty"`
}

// Artifact is the file an update installs.
type Artifact struct {
	// Name is a plain file name (no directories), used for the file on disk.
	Name string `json:"name"`
	Size int64  `json:"size"`
	// SHA256 is checked before the artifact is handed to any installer.
	SHA256 Digest `json:"sha256"`
	// ContentID is the artifact's CIDv1 (UnixFS, raw leaves, sha2-256), by
	// which peers that hold it provide it in the DHT. Optional: without it
	// the artifact comes only from URLs.
	ContentID string `json:"content_id,omitempty"`
	// URLs are vendor or mirror locations (http or https); each is only a
	// hint: the bytes must still match Size and SHA256.
	URLs   []string `json:"urls,omitempty"`
	Method Method   `json:"method"`
	// Instructions are special steps shown to people and passed to script
	// installers; never executed by patchnet itself.
	Instructions string `json:"instructions,omitempty"`
}

// Rollout spreads the installs of an update over time so a bad update does
// not reach every host at once.
type Rollout struct {
	// NotBefore: no host applies the update earlier.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Spread: each host picks a stable delay in [0, Spread) after NotBefore
	// (or after acceptance), derived from its own identity.
	Spread Duration `json:"spread,omitempty"`
}

// Digest is a SHA-256 digest, lowercase hex in JSON.
type Digest [32]byte

// String is the lowercase hex of d.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is all zeroes (unset).
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText encodes d as lowercase hex.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes 64 hex digits.
func (d *Digest) UnmarshalText(b []byte) error {
	parsed, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// ParseDigest decodes a SHA-256 digest written as 64 hex digits.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("sha256 %q: want 64 hex digits, have %d characters", clip(s), len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("sha256 %q: %w", clip(s), err)
	}
	return d, nil
}

// Duration is a time.Duration written as Go duration text ("6h30m") in JSON
// and TOML (announcements, and every configuration file of patchnet). It
// is duration.Duration, which the overlay and node configurations share.
type Duration = duration.Duration

// UnmarshalJSON decodes the patchnet object strictly: an unknown key is an
// error, so a newer publisher's instruction is never silently dropped.
func (p *Patchnet) UnmarshalJSON(b []byte) error {
	type plain Patchnet
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v plain
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("patchnet: %w", err)
	}
	*p = Patchnet(v)
	return nil
}

// DecodeAnnouncement parses and validates an announcement. It checks form
// only: whether the announcement is trusted is Acceptor.Accept's business.
func DecodeAnnouncement(raw []byte) (*Announcement, error) {
	if len(raw) > MaxAnnouncementBytes {
		return nil, fmt.Errorf("decoding announcement: %d bytes exceeds %d", len(raw), MaxAnnouncementBytes)
	}
	if err := checkJSONShape(raw); err != nil {
		return nil, fmt.Errorf("decoding announcement: %w", err)
	}
	var a Announcement
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("decoding announcement: %w", err)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Marshal encodes a as indented JSON after validating it, so nothing invalid
// is ever signed.
func (a *Announcement) Marshal() ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding announcement: %w", err)
	}
	if len(b) > MaxAnnouncementBytes {
		return nil, fmt.Errorf("encoding announcement: %d bytes exceeds %d", len(b), MaxAnnouncementBytes)
	}
	return append(b, '\n'), nil
}

// HasCategory reports whether a carries category c.
func (a *Announcement) HasCategory(c Category) bool {
	for _, have := range a.Patchnet.Categories {
		if have == c {
			return true
		}
	}
	return false
}

// CVEs returns the CVE ids among id, aliases and upstream, without repeats.
func (a *Announcement) CVEs() []string {
	var out []string
	seen := map[string]bool{}
	for _, group := range [][]string{{a.ID}, a.Aliases, a.Upstream} {
		for _, s := range group {
			if len(s) > 4 && s[:4] == "CVE-" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// clip shortens s for quoting in an error message.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

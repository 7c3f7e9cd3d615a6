package updates

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// validAnnouncement is a fully populated announcement that validates.
func validAnnouncement() *Announcement {
	return &Announcement{
		SchemaVersion: OSVSchemaVersion, ID: "DSA-9001-1", Modified: testNow,
		Aliases: []string{"CVE-2026-0001"}, Summary: "openssl - security update",
		Affected: []Affected{{
			Package: Package{Ecosystem: "Debian:12", Name: "openssl"},
			Ranges:  []Range{{Type: RangeEcosystem, Events: []Event{{Introduced: "0"}, {Fixed: "3.0.23-1~deb12u1"}}}},
		}},
		Patchnet: testPatchnet([]byte("artifact")),
	}
}

func TestSchemaExampleDecodes(t *testing.T) {
	doc, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("SCHEMA.md has no json example")
	}
	a, err := DecodeAnnouncement(m[1])
	if err != nil {
		t.Fatalf("SCHEMA.md example: %v", err)
	}
	if a.ID != "DSA-5532-1" || a.Patchnet.Artifact.Method != MethodDpkg || time.Duration(a.Patchnet.Rollout.Spread) != 2*time.Hour {
		t.Errorf("example decoded wrongly: %+v", a)
	}
}

func TestAnnouncementRoundTrip(t *testing.T) {
	a := validAnnouncement()
	a.Patchnet.Rollout = &Rollout{NotBefore: testNow.Add(time.Hour), Spread: Duration(90 * time.Minute)}
	a.DatabaseSpecific = json.RawMessage(`{"source":"x"}`)
	raw, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeAnnouncement(raw)
	if err != nil {
		t.Fatal(err)
	}
	// Raw JSON comes back re-indented; compare it by its encoding.
	again, err := back.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(raw), string(again)); diff != "" {
		t.Errorf("re-encoding differs (-first +second):\n%s", diff)
	}
	a.DatabaseSpecific, back.DatabaseSpecific = nil, nil
	if diff := cmp.Diff(a, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *Announcement)
		want   string
	}{
		{"no id", func(a *Announcement) { a.ID = "" }, "id: required"},
		{"bad id", func(a *Announcement) { a.ID = "DSA/1" }, `id: "DSA/1": character '/' not allowed`},
		{"no modified", func(a *Announcement) { a.Modified = time.Time{} }, "modified: required"},
		{"bad alias", func(a *Announcement) { a.Aliases = []string{"ok", "bad alias"} }, "aliases[1]:"},
		{"two event fields", func(a *Announcement) {
			a.Affected[0].Ranges = append(a.Affected[0].Ranges, Range{Type: RangeEcosystem, Events: []Event{{Introduced: "1.0", Fixed: "1.1"}}})
		}, "affected[0].ranges[1].events[0]: introduced and fixed both set"},
		{"empty event", func(a *Announcement) { a.Affected[0].Ranges[0].Events[1] = Event{} }, "affected[0].ranges[0].events[1]: no event field set"},
		{"no introduced", func(a *Announcement) { a.Affected[0].Ranges[0].Events = []Event{{Fixed: "1.0"}} }, "affected[0].ranges[0].events: no introduced event"},
		{"bad deb version", func(a *Announcement) { a.Affected[0].Ranges[0].Events[1].Fixed = "x1" }, `affected[0].ranges[0].events[1].fixed: parsing Debian version "x1"`},
		{"bad semver", func(a *Announcement) {
			a.Affected[0].Ranges[0] = Range{Type: RangeSemver, Events: []Event{{Introduced: "1.2"}}}
		}, "affected[0].ranges[0].events[0].introduced: parsing semantic version"},
		{"bad range type", func(a *Announcement) { a.Affected[0].Ranges[0].Type = "DATE" }, `affected[0].ranges[0].type: "DATE" is not ECOSYSTEM, SEMVER or GIT`},
		{"git without repo", func(a *Announcement) { a.Affected[0].Ranges[0].Type = RangeGit }, "affected[0].ranges[0].repo: required for a GIT range"},
		{"no package name", func(a *Announcement) { a.Affected[0].Package.Name = "" }, "affected[0].package.name: required"},
		{"no ranges nor versions", func(a *Announcement) { a.Affected[0].Ranges = nil }, "affected[0]: neither ranges nor versions"},
		{"no version", func(a *Announcement) { a.Patchnet.Version = 0 }, "patchnet.version: required"},
		{"no categories", func(a *Announcement) { a.Patchnet.Categories = nil }, "patchnet.categories: at least one"},
		{"bad category", func(a *Announcement) { a.Patchnet.Categories = []Category{"urgent"} }, `patchnet.categories[0]: "urgent" is not one of`},
		{"repeated category", func(a *Announcement) { a.Patchnet.Categories = []Category{"bugfix", "bugfix"} }, `patchnet.categories[1]: "bugfix" repeated`},
		{"no expiry", func(a *Announcement) { a.Patchnet.Expires = time.Time{} }, "patchnet.expires: required"},
		{"expiry before modified", func(a *Announcement) { a.Patchnet.Expires = testNow.Add(-time.Hour) }, "patchnet.expires: 2026-03-01T11:00:00Z is not after modified"},
		{"expiry too far", func(a *Announcement) { a.Patchnet.Expires = testNow.Add(2 * MaxValidity) }, "is more than"},
		{"no artifact", func(a *Announcement) { a.Patchnet.Artifact = nil }, `patchnet.artifact: required unless the only category is "announcement"`},
		{"artifact path", func(a *Announcement) { a.Patchnet.Artifact.Name = "../etc/passwd" }, "patchnet.artifact.name: \"../etc/passwd\" must be a plain file name"},
		{"artifact size", func(a *Announcement) { a.Patchnet.Artifact.Size = 0 }, "patchnet.artifact.size: 0 is not in"},
		{"artifact digest", func(a *Announcement) { a.Patchnet.Artifact.SHA256 = Digest{} }, "patchnet.artifact.sha256: required"},
		{"artifact cid", func(a *Announcement) { a.Patchnet.Artifact.ContentID = "QmNotACID" }, "patchnet.artifact.content_id: parsing"},
		{"artifact method", func(a *Announcement) { a.Patchnet.Artifact.Method = "msi" }, `patchnet.artifact.method: "msi" is not one of`},
		{"artifact url", func(a *Announcement) { a.Patchnet.Artifact.URLs = []string{"ftp://x/y"} }, "patchnet.artifact.urls[0]:"},
		{"too many affected", func(a *Announcement) {
			a.Affected = make([]Affected, MaxAffected+1)
		}, "affected: 257 entries exceeds 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := validAnnouncement()
			tt.mutate(a)
			err := a.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestAnnouncementOnlyCategoryNeedsNoArtifact(t *testing.T) {
	a := validAnnouncement()
	a.Patchnet.Categories = []Category{CategoryAnnouncement}
	a.Patchnet.Artifact = nil
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeRefusesUnknownPatchnetField(t *testing.T) {
	raw, err := validAnnouncement().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(raw), `"version": 1,`, `"version": 1, "run_as_root": true,`, 1)
	if _, err := DecodeAnnouncement([]byte(bad)); err == nil || !strings.Contains(err.Error(), `unknown field "run_as_root"`) {
		t.Fatalf("DecodeAnnouncement = %v, want unknown field error", err)
	}
	badArtifact := strings.Replace(string(raw), `"method": "dpkg"`, `"method": "dpkg", "post_install": "rm -rf /"`, 1)
	if _, err := DecodeAnnouncement([]byte(badArtifact)); err == nil || !strings.Contains(err.Error(), `unknown field "post_install"`) {
		t.Fatalf("DecodeAnnouncement = %v, want unknown field error", err)
	}
	// Unknown OSV fields are tolerated (OSV grows).
	osvExtra := strings.Replace(string(raw), `"id":`, `"credits": [{"name": "someone"}], "id":`, 1)
	if _, err := DecodeAnnouncement([]byte(osvExtra)); err != nil {
		t.Fatalf("unknown OSV field refused: %v", err)
	}
}

func TestDecodeRefusesAmbiguousJSON(t *testing.T) {
	raw, err := validAnnouncement().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	tests := []struct {
		name, doc, want string
	}{
		{"repeated key", strings.Replace(doc, `"id": "DSA-9001-1",`, `"id": "DSA-9001-1", "id": "DSA-6666-1",`, 1), "id: key repeated in one object"},
		{"case variant of a field", strings.Replace(doc, `"patchnet": {`, `"Patchnet": {"version": 99}, "patchnet": {`, 1), "Patchnet: field names are lower case"},
		{"nested case variant", strings.Replace(doc, `"method": "dpkg"`, `"METHOD": "script", "method": "dpkg"`, 1), "patchnet.artifact.METHOD: field names are lower case"},
		{"deep nesting", strings.Replace(doc, `"id":`, `"database_specific": `+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`, "id":`, 1), "nested deeper than 32"},
	}
	for _, tt := range tests {
		if _, err := DecodeAnnouncement([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: DecodeAnnouncement = %v, want %q", tt.name, err, tt.want)
		}
	}
	// Free-form fields keep whatever keys their database uses.
	free := strings.Replace(doc, `"id":`, `"database_specific": {"CVSS": {"Score": 7.5}}, "id":`, 1)
	if _, err := DecodeAnnouncement([]byte(free)); err != nil {
		t.Errorf("upper-case keys inside database_specific refused: %v", err)
	}
}

func TestDecodeBounded(t *testing.T) {
	big := `{"id":"X","details":"` + strings.Repeat("a", MaxAnnouncementBytes) + `"}`
	if _, err := DecodeAnnouncement([]byte(big)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("DecodeAnnouncement of %d bytes = %v", len(big), err)
	}
}

func TestFromOSVRefusesPatchnetKey(t *testing.T) {
	raw, _ := validAnnouncement().Marshal()
	if _, err := FromOSV(raw, testPatchnet([]byte("x")), testNow); err == nil || !strings.Contains(err.Error(), `already has a "patchnet" key`) {
		t.Fatalf("FromOSV = %v", err)
	}
}

func TestCVEs(t *testing.T) {
	a := readAdvisory(t, "usn-6450-1.json")
	want := []string{"CVE-2023-3446", "CVE-2023-3817", "CVE-2023-5363"}
	if diff := cmp.Diff(want, a.CVEs()); diff != "" {
		t.Error(diff)
	}
}

func FuzzDecodeAnnouncement(f *testing.F) {
	raw, _ := validAnnouncement().Marshal()
	f.Add(raw)
	f.Add([]byte(`{"id":"X","modified":"2026-01-01T00:00:00Z","patchnet":{"version":1}}`))
	f.Add([]byte(`{"affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"*"}]}]}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeAnnouncement(data)
		if err != nil {
			return
		}
		// A valid announcement re-encodes and decodes to the same value,
		// and matching it never panics.
		again, err := a.Marshal()
		if err != nil {
			t.Fatalf("valid announcement does not re-encode: %v", err)
		}
		if _, err := DecodeAnnouncement(again); err != nil {
			t.Fatalf("re-encoded announcement does not decode: %v", err)
		}
		Match(Host{Ecosystem: "Debian:12", Packages: []Installed{{Name: "a", Version: "1.0-1"}}}, a)
	})
}

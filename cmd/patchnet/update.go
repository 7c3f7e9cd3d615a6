package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/updates"
)

func init() { rootCmd.AddCommand(newUpdateCmd()) }

func newUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Author, co-sign and inspect update announcements",
		Long: `An announcement is an OSV record plus patchnet's fields (version, categories,
expiry, artifact); see updates/SCHEMA.md. A publisher writes one with
'update new' or 'update from-osv', signs it with 'update sign', and each
supernode co-signs the same envelope with 'update sign' before it is published.`,
		Example: `  patchnet update new --id DSA-5532-1 --version 1 --artifact openssl_3.0.11-1~deb12u2_amd64.deb \
    --method dpkg --ecosystem Debian:12 --package openssl --fixed 3.0.11-1~deb12u2 --out ann.json
  patchnet update sign --key pub/node.key --cert pub/node.crt ann.json --out envelope.json
  patchnet update sign --key sn1/node.key --cert sn1/node.crt --root root/root.crt envelope.json --out envelope.json
  patchnet update show --root root/root.crt envelope.json`,
	}
	cmd.AddCommand(newUpdateNewCmd(), newUpdateSignCmd(), newUpdateShowCmd(), newUpdateFromOSVCmd())
	return cmd
}

// patchnetFlags are the flags that fill the patchnet section, shared by
// 'update new' and 'update from-osv'.
type patchnetFlags struct {
	version        uint64
	categories     []string
	expires        time.Duration
	rebootRequired bool
	artifact       string
	artifactName   string
	method         string
	urls           []string
	instructions   string
	contentID      string
	notBefore      string
	spread         time.Duration
}

func (p *patchnetFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Uint64Var(&p.version, "version", 0, "announcement version for this id: higher than any published before (required)")
	f.StringArrayVar(&p.categories, "category", []string{string(updates.CategorySecurity)}, "bugfix, security, enhancement or announcement (repeatable)")
	f.DurationVar(&p.expires, "expires", 30*24*time.Hour, "how long agents accept the announcement (at most 8784h)")
	f.BoolVar(&p.rebootRequired, "reboot-required", false, "the update needs a reboot (reported, never performed)")
	f.StringVar(&p.artifact, "artifact", "", "artifact file: its size, SHA-256 and content id are computed")
	f.StringVar(&p.artifactName, "artifact-name", "", "file name in the announcement (default: the artifact's base name)")
	f.StringVar(&p.method, "method", "", "install method: dpkg, rpm, apk, script or archive")
	f.StringArrayVar(&p.urls, "url", nil, "vendor or mirror URL of the artifact (repeatable)")
	f.StringVar(&p.instructions, "instructions", "", "special instructions; @FILE reads them from FILE")
	f.StringVar(&p.contentID, "content-id", "", "content id to record instead of computing it")
	f.StringVar(&p.notBefore, "rollout-not-before", "", "RFC 3339 time before which no host applies it")
	f.DurationVar(&p.spread, "rollout-spread", 0, "spread installs over this long after the start")
}

// build fills the patchnet section; now is the announcement's modified time.
func (p *patchnetFlags) build(now time.Time) (updates.Patchnet, error) {
	pn := updates.Patchnet{Version: p.version, Expires: now.Add(p.expires), RebootRequired: p.rebootRequired}
	if p.version == 0 {
		return pn, errors.New("--version: required, at least 1")
	}
	for _, c := range p.categories {
		pn.Categories = append(pn.Categories, updates.Category(c))
	}
	if p.notBefore != "" || p.spread != 0 {
		pn.Rollout = &updates.Rollout{Spread: updates.Duration(p.spread)}
		if p.notBefore != "" {
			t, err := time.Parse(time.RFC3339, p.notBefore)
			if err != nil {
				return pn, fmt.Errorf("--rollout-not-before: %w", err)
			}
			pn.Rollout.NotBefore = t
		}
	}
	if p.artifact == "" {
		return pn, nil
	}
	ar, err := p.buildArtifact()
	pn.Artifact = ar
	return pn, err
}

func (p *patchnetFlags) buildArtifact() (*updates.Artifact, error) {
	if p.method == "" {
		return nil, errors.New("--method: required with --artifact (dpkg, rpm, apk, script or archive)")
	}
	ar := &updates.Artifact{Name: p.artifactName, Method: updates.Method(p.method), URLs: p.urls, ContentID: p.contentID}
	if ar.Name == "" {
		ar.Name = filepath.Base(p.artifact)
	}
	instructions, err := readAtFile(p.instructions)
	if err != nil {
		return nil, fmt.Errorf("--instructions: %w", err)
	}
	ar.Instructions = instructions
	size, digest, cid, err := describeArtifact(p.artifact)
	if err != nil {
		return nil, err
	}
	ar.Size, ar.SHA256 = size, digest
	if ar.ContentID == "" {
		ar.ContentID = cid
	}
	return ar, nil
}

// describeArtifact reads the file once: size, SHA-256 and content id.
func describeArtifact(path string) (int64, updates.Digest, string, error) {
	var d updates.Digest
	f, err := os.Open(path)
	if err != nil {
		return 0, d, "", fmt.Errorf("reading artifact: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	counter := &countingWriter{}
	id, err := content.ContentID(io.TeeReader(f, io.MultiWriter(h, counter)))
	if err != nil {
		return 0, d, "", fmt.Errorf("reading artifact %s: %w", path, err)
	}
	h.Sum(d[:0])
	return counter.n, d, id.String(), nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }

// readAtFile returns s, or the content of file F when s is "@F".
func readAtFile(s string) (string, error) {
	name, ok := strings.CutPrefix(s, "@")
	if !ok {
		return s, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	if len(b) > updates.MaxDetailsLength {
		return "", fmt.Errorf("%s: %d bytes exceeds %d", name, len(b), updates.MaxDetailsLength)
	}
	return string(b), nil
}

func newUpdateNewCmd() *cobra.Command {
	var (
		pf                                         patchnetFlags
		id, ecosystem, rangeType, introduced       string
		fixed, lastAffected, summary, details, out string
		packages, cves, aliases                    []string
	)
	cmd := &cobra.Command{
		Use:   "new --id ID --version N [--artifact FILE --method M] [--ecosystem E --package P --fixed V] --out FILE",
		Short: "Write a new announcement from flags and an artifact file",
		Long: `Write an announcement: OSV fields from --id, --summary, --cve and the affected
package (--ecosystem, --package, --introduced, --fixed or --last-affected),
patchnet fields from the rest. The artifact's size, SHA-256 and content id
are computed from --artifact. Without --package the announcement names no
affected package and applies to every host of the zone (scripts, archives).
The result is validated before it is written; sign it with 'update sign'.`,
		Example: `  patchnet update new --id DSA-5532-1 --version 1 \
    --artifact openssl_3.0.11-1~deb12u2_amd64.deb --method dpkg \
    --ecosystem Debian:12 --package openssl --fixed 3.0.11-1~deb12u2 \
    --cve CVE-2023-5363 --summary "openssl: cipher key and IV length" \
    --url https://deb.debian.org/debian-security/pool/updates/main/o/openssl/openssl_3.0.11-1~deb12u2_amd64.deb \
    --out ann.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now().UTC().Truncate(time.Second)
			pn, err := pf.build(now)
			if err != nil {
				return err
			}
			a := &updates.Announcement{
				SchemaVersion: updates.OSVSchemaVersion, ID: id, Modified: now, Published: now,
				Aliases: aliases, Upstream: cves, Summary: summary, Patchnet: pn,
			}
			if a.Details, err = readAtFile(details); err != nil {
				return fmt.Errorf("--details: %w", err)
			}
			if len(packages) > 0 {
				if ecosystem == "" {
					return errors.New("--ecosystem: required with --package")
				}
				ev, err := affectedEvents(introduced, fixed, lastAffected)
				if err != nil {
					return err
				}
				for _, p := range packages {
					a.Affected = append(a.Affected, updates.Affected{
						Package: updates.Package{Ecosystem: ecosystem, Name: p},
						Ranges:  []updates.Range{{Type: updates.RangeType(rangeType), Events: ev}},
					})
				}
			}
			return writeAnnouncement(cmd, a, out)
		},
	}
	pf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "announcement id, e.g. DSA-5532-1 (required)")
	f.StringVar(&ecosystem, "ecosystem", "", "OSV ecosystem of the affected package, e.g. Debian:12, Alpine:v3.20, Rocky Linux:9")
	f.StringArrayVar(&packages, "package", nil, "affected package as the ecosystem's advisories name it (repeatable)")
	f.StringVar(&rangeType, "range-type", string(updates.RangeEcosystem), "ECOSYSTEM (the package manager's order) or SEMVER")
	f.StringVar(&introduced, "introduced", "0", `first affected version ("0": all before the fix)`)
	f.StringVar(&fixed, "fixed", "", "first fixed version")
	f.StringVar(&lastAffected, "last-affected", "", "last affected version, when no fix exists")
	f.StringArrayVar(&cves, "cve", nil, "upstream CVE id (repeatable)")
	f.StringArrayVar(&aliases, "alias", nil, "alias id (repeatable)")
	f.StringVar(&summary, "summary", "", "one-line summary")
	f.StringVar(&details, "details", "", "details; @FILE reads them from FILE")
	f.StringVar(&out, "out", "-", "output file, - for standard output")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("version")
	return cmd
}

func affectedEvents(introduced, fixed, lastAffected string) ([]updates.Event, error) {
	ev := []updates.Event{{Introduced: introduced}}
	switch {
	case fixed != "" && lastAffected != "":
		return nil, errors.New("--fixed and --last-affected: give one, not both")
	case fixed != "":
		ev = append(ev, updates.Event{Fixed: fixed})
	case lastAffected != "":
		ev = append(ev, updates.Event{LastAffected: lastAffected})
	}
	return ev, nil
}

// writeAnnouncement validates and writes a to out ("-" is standard output).
func writeAnnouncement(cmd *cobra.Command, a *updates.Announcement, out string) error {
	raw, err := a.Marshal()
	if err != nil {
		return err
	}
	return writeOutput(cmd, out, raw)
}

// writeOutput writes data to out atomically, or to standard output for "-".
func writeOutput(cmd *cobra.Command, out string, data []byte) error {
	if out == "-" || out == "" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
	return nil
}

func newUpdateFromOSVCmd() *cobra.Command {
	var (
		pf  patchnetFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "from-osv OSV.json --version N [--artifact FILE --method M] --out FILE",
		Short: "Turn an OSV record (DSA, USN, RHSA, Alpine secdb…) into an announcement",
		Long: `Read an OSV record and add patchnet's fields from flags: version, categories,
expiry and the artifact (size, SHA-256 and content id computed from
--artifact). The OSV fields are kept as they are; modified becomes now. A
record that already has a "patchnet" key is refused.`,
		Example: `  patchnet update from-osv DSA-5532-1.json --version 1 \
    --artifact openssl_3.0.11-1~deb12u2_amd64.deb --method dpkg --out ann.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := fsutil.ReadFile(args[0], updates.MaxAnnouncementBytes)
			if err != nil {
				return err
			}
			now := time.Now().UTC().Truncate(time.Second)
			pn, err := pf.build(now)
			if err != nil {
				return err
			}
			a, err := updates.FromOSV(raw, pn, now)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return writeAnnouncement(cmd, a, out)
		},
	}
	pf.register(cmd)
	cmd.Flags().StringVar(&out, "out", "-", "output file, - for standard output")
	_ = cmd.MarkFlagRequired("version")
	return cmd
}

// isEnvelope tells a DSSE envelope from a bare announcement by its keys.
func isEnvelope(raw []byte) bool {
	var probe struct {
		PayloadType *string `json:"payloadType"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.PayloadType != nil
}

// isBareAnnouncement tells an unsigned announcement by its keys: an "id" or
// "patchnet" key and neither of an envelope's "payloadType" and
// "signatures".
func isBareAnnouncement(raw []byte) bool {
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil {
		return false
	}
	has := func(k string) bool { _, ok := keys[k]; return ok }
	return (has("id") || has("patchnet")) && !has("payloadType") && !has("signatures")
}

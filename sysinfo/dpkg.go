package sysinfo

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

const (
	dpkgStatusPath = "var/lib/dpkg/status"
	// dpkgStatusDir is where distroless images keep one stanza file per
	// package instead of a status file.
	dpkgStatusDir = "var/lib/dpkg/status.d"
)

// ParseDpkgStatus reads a dpkg status file (the format of
// /var/lib/dpkg/status and of the files in status.d/) and returns the
// packages whose status is "installed", in file order. PURL is left empty:
// it needs the distribution, which Collect knows. A malformed stanza is an
// error naming its line; no partial list is returned.
func ParseDpkgStatus(r io.Reader) ([]Package, error) {
	return parseStanzas(r, "dpkg status", &dpkgStanza{})
}

// dpkgStanza accumulates the fields of one stanza that the inventory keeps.
type dpkgStanza struct {
	pkg       Package
	status    string
	source    string
	section   string
	startLine int // 0 while no field has been seen
}

// add takes one line: a field, a continuation, or the blank line that ends
// the stanza. dpkg writes field names in their canonical case, so they are
// matched exactly.
func (st *dpkgStanza) add(lr *lineReader, line []byte, out *[]Package) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return st.finish(lr, out)
	}
	if line[0] == ' ' || line[0] == '\t' {
		if st.startLine == 0 {
			return lr.errorf("continuation line outside a field")
		}
		return nil // continuation of a field the inventory does not keep
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return lr.errorf("expected \"Field: value\", got %q", clip(line))
	}
	if st.startLine == 0 {
		st.startLine = lr.n
	}
	name, raw := line[:colon], bytes.TrimSpace(line[colon+1:])
	dst := st.fieldDest(name)
	if dst == nil {
		return nil
	}
	v, err := lr.fieldValue(string(name), raw)
	*dst = v
	return err
}

// fieldDest is where a kept field goes, nil for fields that are skipped.
func (st *dpkgStanza) fieldDest(name []byte) *string {
	switch string(name) {
	case "Package":
		return &st.pkg.Name
	case "Status":
		return &st.status
	case "Version":
		return &st.pkg.Version
	case "Architecture":
		return &st.pkg.Arch
	case "Source":
		return &st.source
	case "Maintainer":
		return &st.pkg.Vendor
	case "Section":
		return &st.section
	}
	return nil
}

// finish ends the stanza: it checks it, appends it to out when installed,
// and resets st for the next one.
func (st *dpkgStanza) finish(lr *lineReader, out *[]Package) error {
	if st.startLine == 0 {
		return nil
	}
	defer func() { *st = dpkgStanza{} }()
	fail := func(msg string, args ...any) error {
		return &ParseError{Format: lr.format, Line: st.startLine, Msg: fmt.Sprintf(msg, args...)}
	}
	if st.pkg.Name == "" {
		return fail("stanza has no Package field")
	}
	words := strings.Fields(st.status)
	if len(words) != 3 {
		return fail("package %s: Status %q is not \"want flag status\"", st.pkg.Name, st.status)
	}
	if words[2] != "installed" {
		return nil
	}
	if st.pkg.Version == "" {
		return fail("installed package %s has no Version", st.pkg.Name)
	}
	if len(*out) >= maxPackages {
		return fail("more than %d installed packages", maxPackages)
	}
	p := st.pkg
	p.Manager = ManagerDpkg
	p.SourceName, p.SourceVersion = dpkgSource(st.source, p.Name, p.Version)
	p.Category = debianCategory(st.section)
	*out = append(*out, p)
	return nil
}

// dpkgSource splits a Source field, "name" or "name (version)"; an absent
// field means the source is named and versioned like the binary package.
func dpkgSource(field, name, version string) (string, string) {
	if field == "" {
		return name, version
	}
	srcName, rest, found := strings.Cut(field, " ")
	if !found {
		return srcName, version
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		if v := strings.TrimSpace(rest[1 : len(rest)-1]); v != "" {
			return srcName, v
		}
	}
	return srcName, version // "name ()" names no version: dpkg's default applies
}

// clip shortens a line quoted in an error message.
func clip(b []byte) string {
	const max = 60
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// collectDpkg reads the dpkg status file and status.d under root. Neither
// existing means dpkg is not the package manager here: not an error.
func collectDpkg(root *os.Root) ([]Package, error) {
	pkgs, err := parseDpkgFile(root, dpkgStatusPath)
	if err != nil && !isNotExist(err) {
		return nil, err
	}
	more, err := collectDpkgStatusDir(root)
	if err != nil {
		return pkgs, err
	}
	return append(pkgs, more...), nil
}

// collectDpkgStatusDir reads status.d/, skipping the .md5sums files that
// sit beside the stanza files.
func collectDpkgStatusDir(root *os.Root) ([]Package, error) {
	entries, err := fs.ReadDir(root.FS(), dpkgStatusDir)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dpkgStatusDir, err)
	}
	if len(entries) > maxStatusDFiles {
		return nil, fmt.Errorf("reading %s: %d files, more than %d", dpkgStatusDir, len(entries), maxStatusDFiles)
	}
	var out []Package
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".md5sums") {
			continue
		}
		pkgs, err := parseDpkgFile(root, path.Join(dpkgStatusDir, e.Name()))
		if err != nil {
			return out, err
		}
		out = append(out, pkgs...)
	}
	return out, nil
}

// parseDpkgFile parses one status-format file under root.
func parseDpkgFile(root *os.Root, name string) ([]Package, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkgs, err := ParseDpkgStatus(f)
	if err != nil {
		return nil, fmt.Errorf("reading /%s: %w", name, err)
	}
	return pkgs, nil
}

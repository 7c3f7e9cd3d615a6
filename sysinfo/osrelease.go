package sysinfo

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// osReleasePaths are read in order, as os-release(5) says.
var osReleasePaths = []string{"etc/os-release", "usr/lib/os-release"}

// OSRelease is a parsed os-release file. Fields holds every assignment;
// the named fields are the ones the inventory uses.
type OSRelease struct {
	ID              string
	IDLike          []string
	Name            string
	PrettyName      string
	Version         string
	VersionID       string
	VersionCodename string
	Fields          map[string]string
}

// ParseOSRelease parses an os-release file (os-release(5)): KEY=value
// lines, values optionally in double or single quotes with backslash
// escapes, '#' comments and blank lines ignored. Anything else is an error
// naming its line.
func ParseOSRelease(r io.Reader) (OSRelease, error) {
	lr := newLineReader(io.LimitReader(r, maxSmallFileBytes+1), "os-release")
	fields := map[string]string{}
	read := 0
	for {
		line, ok := lr.next()
		if !ok {
			break
		}
		if read += len(line) + 1; read > maxSmallFileBytes {
			return OSRelease{}, lr.errorf("file longer than %d bytes", maxSmallFileBytes)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, value, err := osReleaseAssignment(lr, line)
		if err != nil {
			return OSRelease{}, err
		}
		fields[key] = value
	}
	if err := lr.Err(); err != nil {
		return OSRelease{}, err
	}
	return newOSRelease(fields), nil
}

// osReleaseAssignment parses one KEY=value line.
func osReleaseAssignment(lr *lineReader, line []byte) (string, string, error) {
	eq := bytes.IndexByte(line, '=')
	if eq <= 0 {
		return "", "", lr.errorf("expected KEY=value, got %q", clip(line))
	}
	key := string(line[:eq])
	for _, c := range key {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "", "", lr.errorf("invalid variable name %q", key)
		}
	}
	value, err := unquoteOSRelease(line[eq+1:])
	if err != nil {
		return "", "", lr.errorf("%s: %v", key, err)
	}
	if len(value) > maxFieldBytes {
		return "", "", lr.errorf("%s is %d bytes, more than %d", key, len(value), maxFieldBytes)
	}
	return key, value, nil
}

// unquoteOSRelease undoes shell-style quoting of one value: "..." with
// backslash escapes of $ " \ `, '...' literally, or unquoted.
func unquoteOSRelease(v []byte) (string, error) {
	if len(v) == 0 {
		return "", nil
	}
	q := v[0]
	if q != '"' && q != '\'' {
		// Spaces unquoted break the spec but occur in the wild; a stray
		// quote makes the value ambiguous.
		if bytes.ContainsAny(v, "\"'") {
			return "", fmt.Errorf("unquoted value %q contains a quote", clip(v))
		}
		return string(v), nil
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == q:
			if i != len(v)-1 {
				return "", fmt.Errorf("text after the closing quote")
			}
			return b.String(), nil
		case c == '\\' && q == '"' && i+1 < len(v) && strings.IndexByte("$\"\\`", v[i+1]) >= 0:
			i++
			b.WriteByte(v[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated %c quote", q)
}

// newOSRelease picks the named fields out of the assignments.
func newOSRelease(f map[string]string) OSRelease {
	o := OSRelease{
		ID:              strings.ToLower(f["ID"]),
		IDLike:          strings.Fields(strings.ToLower(f["ID_LIKE"])),
		Name:            f["NAME"],
		PrettyName:      f["PRETTY_NAME"],
		Version:         f["VERSION"],
		VersionID:       f["VERSION_ID"],
		VersionCodename: f["VERSION_CODENAME"],
		Fields:          f,
	}
	if o.VersionCodename == "" {
		o.VersionCodename = f["UBUNTU_CODENAME"]
	}
	if o.VersionCodename == "" {
		o.VersionCodename = codenameInVersion(o.Version)
	}
	return o
}

// codenameInVersion finds "bookworm" in VERSION="12 (bookworm)" or "Plow"
// in "9.4 (Plow)" for releases without VERSION_CODENAME. Only one word
// counts: Fedora's "(Container Image)" is a variant, not a codename.
func codenameInVersion(v string) string {
	open, close := strings.IndexByte(v, '('), strings.LastIndexByte(v, ')')
	if open < 0 || close < open {
		return ""
	}
	w := strings.TrimSpace(v[open+1 : close])
	if w == "" || strings.ContainsAny(w, " ,") {
		return ""
	}
	return w
}

// collectOS reads os-release under root and the running kernel's release.
func collectOS(root *os.Root) (OS, error) {
	var out OS
	out.Kernel = readTrimmed(root, "proc/sys/kernel/osrelease")
	for _, p := range osReleasePaths {
		f, err := root.Open(p)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("opening /%s: %w", p, err)
		}
		rel, err := ParseOSRelease(f)
		f.Close()
		if err != nil {
			return out, fmt.Errorf("reading /%s: %w", p, err)
		}
		out = osFromRelease(rel, out.Kernel)
		out.Source = "/" + p
		return out, nil
	}
	return out, fmt.Errorf("no os-release: neither /%s nor /%s exists", osReleasePaths[0], osReleasePaths[1])
}

// osFromRelease fills OS from a parsed os-release.
func osFromRelease(rel OSRelease, kernel string) OS {
	return OS{
		ID:         rel.ID,
		Name:       rel.Name,
		PrettyName: rel.PrettyName,
		Version:    rel.Version,
		VersionID:  rel.VersionID,
		Codename:   rel.VersionCodename,
		IDLike:     rel.IDLike,
		Kernel:     kernel,
		Ecosystem:  OSVEcosystem(rel),
	}
}

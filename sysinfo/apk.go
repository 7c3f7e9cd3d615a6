package sysinfo

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

const apkInstalledPath = "lib/apk/db/installed"

// ParseApkInstalled reads apk's installed database (/lib/apk/db/installed):
// stanzas of "X:value" lines separated by blank lines, one per package. It
// keeps P (name), V (version), A (arch), o (origin, the source package) and
// m (maintainer). PURL is left empty. A malformed stanza is an error naming
// its line; no partial list is returned.
func ParseApkInstalled(r io.Reader) ([]Package, error) {
	return parseStanzas(r, "apk installed", &apkStanza{})
}

// apkStanza accumulates one package's kept fields.
type apkStanza struct {
	pkg       Package
	startLine int // 0 while no field has been seen
}

// add takes one line: a field or the blank line that ends the stanza.
func (st *apkStanza) add(lr *lineReader, line []byte, out *[]Package) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return st.finish(lr, out)
	}
	if len(line) < 2 || line[1] != ':' {
		return lr.errorf("expected \"X:value\", got %q", clip(line))
	}
	if st.startLine == 0 {
		st.startLine = lr.n
	}
	var dst *string
	switch line[0] {
	case 'P':
		dst = &st.pkg.Name
	case 'V':
		dst = &st.pkg.Version
	case 'A':
		dst = &st.pkg.Arch
	case 'o':
		dst = &st.pkg.SourceName
	case 'm':
		dst = &st.pkg.Vendor
	default:
		return nil
	}
	v, err := lr.fieldValue(string(line[:1]), line[2:])
	*dst = v
	return err
}

// finish checks the stanza, appends it to out and resets st.
func (st *apkStanza) finish(lr *lineReader, out *[]Package) error {
	if st.startLine == 0 {
		return nil
	}
	defer func() { *st = apkStanza{} }()
	fail := func(msg string, args ...any) error {
		return &ParseError{Format: lr.format, Line: st.startLine, Msg: fmt.Sprintf(msg, args...)}
	}
	if st.pkg.Name == "" {
		return fail("package has no P: (name) line")
	}
	if st.pkg.Version == "" {
		return fail("package %s has no V: (version) line", st.pkg.Name)
	}
	if len(*out) >= maxPackages {
		return fail("more than %d packages", maxPackages)
	}
	p := st.pkg
	p.Manager = ManagerApk
	if p.SourceName == "" {
		p.SourceName = p.Name
	}
	// Subpackages are built with their origin in one go: same version.
	p.SourceVersion = p.Version
	*out = append(*out, p)
	return nil
}

// collectApk reads apk's installed database under root; its absence means
// apk is not the package manager here.
func collectApk(root *os.Root) ([]Package, error) {
	f, err := root.Open(apkInstalledPath)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening /%s: %w", apkInstalledPath, err)
	}
	defer f.Close()
	pkgs, err := ParseApkInstalled(f)
	if err != nil {
		return nil, fmt.Errorf("reading /%s: %w", apkInstalledPath, err)
	}
	return pkgs, nil
}

package sysinfo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	rpmbdb "github.com/knqyf263/go-rpmdb/pkg/bdb"
	rpmdbi "github.com/knqyf263/go-rpmdb/pkg/db"
	rpmndb "github.com/knqyf263/go-rpmdb/pkg/ndb"
	rpmsqlite "github.com/knqyf263/go-rpmdb/pkg/sqlite3"
)

// rpmDBPaths are where rpm keeps its database, newest layout first: rpm
// 4.16+ distributions (Fedora 36+, SUSE) use /usr/lib/sysimage/rpm, with
// /var/lib/rpm a symlink to it or the older location itself. Each backend
// has its own file name: SQLite rpmdb.sqlite, NDB Packages.db, BerkeleyDB
// Packages.
var rpmDBPaths = []string{
	"usr/lib/sysimage/rpm/rpmdb.sqlite",
	"usr/lib/sysimage/rpm/Packages.db",
	"usr/lib/sysimage/rpm/Packages",
	"var/lib/rpm/rpmdb.sqlite",
	"var/lib/rpm/Packages.db",
	"var/lib/rpm/Packages",
}

// collectRPM lists the packages in the first rpm database found under root.
// No database is not an error; a database that cannot be read is.
func collectRPM(root *os.Root) ([]Package, error) {
	for _, p := range rpmDBPaths {
		// Stat through root refuses symlinks that leave it, so the joined
		// path handed to the backend (which opens by name) stays inside.
		fi, err := root.Stat(p)
		switch {
		case isNotExist(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("checking rpm database /%s: %w", p, err)
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("rpm database /%s is not a regular file", p)
		}
		pkgs, err := ReadRPMDB(filepath.Join(root.Name(), p))
		if err != nil {
			return nil, fmt.Errorf("reading rpm database /%s: %w", p, err)
		}
		return pkgs, nil
	}
	return nil, nil
}

// ReadRPMDB lists the packages in an rpm database file of any backend
// (SQLite rpmdb.sqlite, NDB Packages.db, BerkeleyDB Packages). The backends
// are go-rpmdb's; the package headers are decoded here so that the group
// (for Category) is read in the same pass. PURL is left empty.
func ReadRPMDB(path string) ([]Package, error) {
	db, err := openRPMBackend(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []Package
	var first error
	// Drain the channel even after an error: its goroutine blocks otherwise.
	for e := range db.Read() {
		if first != nil {
			continue
		}
		if e.Err != nil {
			first = e.Err
			continue
		}
		p, err := ParseRPMHeader(e.Value)
		switch {
		case err != nil:
			first = fmt.Errorf("package header %d: %w", len(out)+1, err)
		case len(out) >= maxPackages:
			first = fmt.Errorf("more than %d packages", maxPackages)
		default:
			out = append(out, p)
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

// openRPMBackend recognises the backend by the file's magic, as rpm does:
// SQLite, then NDB, then BerkeleyDB (which has no leading magic).
func openRPMBackend(path string) (rpmdbi.RpmDBInterface, error) {
	sq, err := rpmsqlite.Open(path)
	if err == nil {
		return sq, nil
	}
	if !errors.Is(err, rpmsqlite.ErrorInvalidSQLite3) {
		return nil, fmt.Errorf("opening SQLite rpmdb: %w", err)
	}
	nd, err := rpmndb.Open(path)
	if err == nil {
		return nd, nil
	}
	if !errors.Is(err, rpmndb.ErrorInvalidNDB) {
		return nil, fmt.Errorf("opening NDB rpmdb: %w", err)
	}
	bd, err := rpmbdb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening BerkeleyDB rpmdb (neither SQLite nor NDB): %w", err)
	}
	return bd, nil
}

// rpm header tags and types the inventory reads (rpm's lib/rpmtag.h).
const (
	rpmTagName      = 1000
	rpmTagVersion   = 1001
	rpmTagRelease   = 1002
	rpmTagEpoch     = 1003
	rpmTagVendor    = 1011
	rpmTagGroup     = 1016
	rpmTagArch      = 1022
	rpmTagSourceRPM = 1044

	rpmTypeInt32       = 4
	rpmTypeString      = 6
	rpmTypeStringArray = 8
	rpmTypeI18NString  = 9
)

// ParseRPMHeader decodes the fields the inventory keeps from one package
// header as stored in an rpm database: a big-endian entry count and data
// length, the index entries (tag, type, offset, count), then the data.
func ParseRPMHeader(blob []byte) (Package, error) {
	fail := func(msg string, args ...any) (Package, error) {
		return Package{}, &ParseError{Format: "rpm header", Msg: fmt.Sprintf(msg, args...)}
	}
	if len(blob) < 8 {
		return fail("%d bytes, shorter than the 8-byte preamble", len(blob))
	}
	il, dl := binary.BigEndian.Uint32(blob), binary.BigEndian.Uint32(blob[4:])
	if il == 0 || il > rpmMaxIndexEntries || dl > rpmMaxData {
		return fail("implausible header: %d entries, %d data bytes", il, dl)
	}
	if need := 8 + 16*uint64(il) + uint64(dl); need > uint64(len(blob)) {
		return fail("truncated: header needs %d bytes, has %d", need, len(blob))
	}
	index, data := blob[8:8+16*il], blob[8+16*il:8+16*il+dl]
	var h rpmHeaderFields
	for i := uint32(0); i < il; i++ {
		if err := h.take(index[16*i:16*i+16], data); err != nil {
			return fail("entry %d: %v", i, err)
		}
	}
	return h.pkg()
}

// rpmHeaderFields collects the tag values of one header.
type rpmHeaderFields struct {
	name, version, release, vendor, group, arch, sourceRPM string
	epoch                                                  int32
	hasEpoch                                               bool
}

// take reads one index entry if its tag is one the inventory keeps.
func (h *rpmHeaderFields) take(entry, data []byte) error {
	tag := int32(binary.BigEndian.Uint32(entry))
	typ := binary.BigEndian.Uint32(entry[4:])
	off := binary.BigEndian.Uint32(entry[8:])
	var dst *string
	switch tag {
	case rpmTagEpoch:
		if typ != rpmTypeInt32 || uint64(off)+4 > uint64(len(data)) {
			return fmt.Errorf("epoch: type %d at offset %d is not an int32 in the data", typ, off)
		}
		h.epoch, h.hasEpoch = int32(binary.BigEndian.Uint32(data[off:])), true
		return nil
	case rpmTagName:
		dst = &h.name
	case rpmTagVersion:
		dst = &h.version
	case rpmTagRelease:
		dst = &h.release
	case rpmTagVendor:
		dst = &h.vendor
	case rpmTagGroup:
		dst = &h.group
	case rpmTagArch:
		dst = &h.arch
	case rpmTagSourceRPM:
		dst = &h.sourceRPM
	default:
		return nil
	}
	s, err := rpmString(typ, off, data)
	if err != nil {
		return fmt.Errorf("tag %d: %w", tag, err)
	}
	*dst = s
	return nil
}

// rpmString reads the first string of a string-typed entry (for an I18N
// string, the C locale's).
func rpmString(typ, off uint32, data []byte) (string, error) {
	if typ != rpmTypeString && typ != rpmTypeStringArray && typ != rpmTypeI18NString {
		return "", fmt.Errorf("type %d is not a string", typ)
	}
	if uint64(off) >= uint64(len(data)) {
		return "", fmt.Errorf("offset %d outside the %d data bytes", off, len(data))
	}
	n := bytes.IndexByte(data[off:], 0)
	if n < 0 {
		return "", fmt.Errorf("string at offset %d is not terminated", off)
	}
	if n > maxFieldBytes {
		return "", fmt.Errorf("string is %d bytes, more than %d", n, maxFieldBytes)
	}
	return string(data[off : off+uint32(n)]), nil
}

// pkg turns the header fields into a Package.
func (h *rpmHeaderFields) pkg() (Package, error) {
	if h.name == "" || h.version == "" {
		return Package{}, &ParseError{Format: "rpm header", Msg: "no name or version"}
	}
	p := Package{
		Name:     h.name,
		Version:  rpmEVR(h.hasEpoch, h.epoch, h.version, h.release),
		Arch:     h.arch,
		Vendor:   h.vendor,
		Category: rpmCategory(h.group),
		Manager:  ManagerRPM,
	}
	p.SourceName, p.SourceVersion = h.name, p.Version
	if n, v, r, ok := splitSourceRPM(h.sourceRPM); ok {
		p.SourceName, p.SourceVersion = n, rpmEVR(h.hasEpoch, h.epoch, v, r)
	}
	return p, nil
}

// rpmEVR formats epoch:version-release as rpm -q --qf '%{EVR}' does: the
// epoch only when the header has one.
func rpmEVR(hasEpoch bool, epoch int32, version, release string) string {
	evr := version
	if release != "" {
		evr += "-" + release
	}
	if hasEpoch {
		evr = strconv.Itoa(int(epoch)) + ":" + evr
	}
	return evr
}

// splitSourceRPM splits "openssl-3.0.7-27.el9.src.rpm" into name, version
// and release.
func splitSourceRPM(s string) (name, version, release string, ok bool) {
	s, found := strings.CutSuffix(s, ".src.rpm")
	if !found {
		if s, found = strings.CutSuffix(s, ".nosrc.rpm"); !found {
			return "", "", "", false
		}
	}
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", "", "", false
	}
	j := strings.LastIndexByte(s[:i], '-')
	if j <= 0 {
		return "", "", "", false
	}
	return s[:j], s[j+1 : i], s[i+1:], true
}

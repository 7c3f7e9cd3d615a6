package sysinfo

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
)

// rpmFixtures are the committed rpm databases, one per backend, with the
// _db_backend Debian's rpm 4.18 reads them with ("" where it cannot).
var rpmFixtures = []struct{ name, path, backend string }{
	{"sqlite", "testdata/roots/rocky-9/var/lib/rpm/rpmdb.sqlite", "sqlite"},
	{"bdb", "testdata/roots/rhel-8/var/lib/rpm/Packages", "bdb_ro"},
	{"ndb", "testdata/roots/sles-15/usr/lib/sysimage/rpm/Packages.db", ""},
}

// rpmLine is what the tests compare rpm packages on.
func rpmLine(p Package) string {
	return strings.Join([]string{p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion, p.Vendor}, "|")
}

// TestReadRPMDBAgreesWithGoRPMDB compares this package's header decoding
// with go-rpmdb's own (an independent implementation) on every backend.
func TestReadRPMDBAgreesWithGoRPMDB(t *testing.T) {
	for _, fx := range rpmFixtures {
		t.Run(fx.name, func(t *testing.T) {
			got, err := ReadRPMDB(fx.path)
			if err != nil {
				t.Fatal(err)
			}
			db, err := rpmdb.Open(fx.path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ref, err := db.ListPackages()
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, p := range ref {
				epoch := ""
				if p.Epoch != nil {
					epoch = strconv.Itoa(*p.Epoch) + ":"
				}
				evr := epoch + p.Version + "-" + p.Release
				srcName, srcVersion := p.Name, evr
				if n, v, r, ok := splitSourceRPM(p.SourceRpm); ok {
					srcName, srcVersion = n, epoch+v+"-"+r
				}
				want = append(want, strings.Join([]string{p.Name, evr, p.Arch, srcName, srcVersion, p.Vendor}, "|"))
			}
			slices.Sort(want)
			if len(want) == 0 {
				t.Fatal("go-rpmdb found no packages")
			}
			if diff := cmp.Diff(want, packageLines(got, rpmLine)); diff != "" {
				t.Errorf("(-go-rpmdb +ReadRPMDB):\n%s", diff)
			}
		})
	}
}

// TestReadRPMDBAgreesWithRPM compares with the real rpm reading the same
// database, on each backend Debian's rpm can read (SQLite, and BerkeleyDB
// through its read-only bdb_ro backend), including the group → category.
func TestReadRPMDBAgreesWithRPM(t *testing.T) {
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Skip("rpm not installed")
	}
	for _, fx := range rpmFixtures {
		if fx.backend == "" {
			continue
		}
		t.Run(fx.name, func(t *testing.T) {
			got, err := ReadRPMDB(fx.path)
			if err != nil {
				t.Fatal(err)
			}
			want := rpmQueryAll(t, fx.path, fx.backend)
			if diff := cmp.Diff(want, packageLines(got, func(p Package) string {
				return p.Name + "|" + p.Version + "|" + p.Arch + "|" + p.Vendor + "|" + p.Category
			})); diff != "" {
				t.Errorf("(-rpm +ReadRPMDB):\n%s", diff)
			}
		})
	}
}

// rpmQueryAll runs rpm -qa on a copy of the database (rpm writes a lock
// file beside it) and returns sorted "name|evr|arch|vendor|category" lines.
func rpmQueryAll(t *testing.T, path, backend string) []string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, path, filepath.Join(dir, filepath.Base(path)))
	out, err := exec.Command("rpm", "--dbpath", dir, "--define", "_db_backend "+backend,
		"-qa", "--qf", `%{NAME}|%{EVR}|%{ARCH}|%{VENDOR}|%{GROUP}\n`).Output()
	if err != nil {
		t.Fatalf("rpm -qa: %v", err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		f[4] = rpmCategory(f[4])
		want = append(want, strings.Join(f, "|"))
	}
	slices.Sort(want)
	return want
}

// TestRPMFixtureRegenerates rebuilds the SQLite fixture with the real tools
// (rpmbuild, then rpm installing the packages into a fresh root) and
// checks the committed database says the same.
func TestRPMFixtureRegenerates(t *testing.T) {
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("testdata/rpmdb/make-sqlite.sh", out)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // rpm's default dbpath is ~/.rpmdb
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-sqlite.sh: %v\n%s", err, b)
	}
	fresh, err := ReadRPMDB(filepath.Join(out, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := ReadRPMDB(rpmFixtures[0].path)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != 3 {
		t.Errorf("fresh database has %d packages, want the 3 of specs/", len(fresh))
	}
	if diff := cmp.Diff(committed, fresh); diff != "" {
		t.Errorf("committed fixture is stale, rerun make-sqlite.sh (-committed +fresh):\n%s", diff)
	}
	if want := rpmQueryAll(t, filepath.Join(out, "rpmdb.sqlite"), "sqlite"); len(want) != len(fresh) {
		t.Errorf("rpm lists %d packages, ReadRPMDB %d", len(want), len(fresh))
	}
}

// TestRPMPackageFields checks what the matcher relies on, on the fixture
// built from specs/: epoch in the version, the source package of a
// subpackage, the group as category, the purl.
func TestRPMPackageFields(t *testing.T) {
	inv := collectFixture(t, "rocky-9")
	want := []Package{
		{Name: "mailfix-libs", Version: "3.0.7-27.el9", Arch: "x86_64", SourceName: "mailfix", SourceVersion: "3.0.7-27.el9",
			Vendor: "Patchnet Fixtures, Inc.", Category: "system/libraries", Manager: ManagerRPM,
			PURL: "pkg:rpm/rocky/mailfix-libs@3.0.7-27.el9?arch=x86_64&distro=rocky-9.4"},
		{Name: "mailfix", Version: "3.0.7-27.el9", Arch: "x86_64", SourceName: "mailfix", SourceVersion: "3.0.7-27.el9",
			Vendor: "Patchnet Fixtures, Inc.", Category: "productivity/networking/email/clients", Manager: ManagerRPM,
			PURL: "pkg:rpm/rocky/mailfix@3.0.7-27.el9?arch=x86_64&distro=rocky-9.4"},
		{Name: "patchnet-hello", Version: "2:1.2.3-4.el9", Arch: "noarch", SourceName: "patchnet-hello", SourceVersion: "2:1.2.3-4.el9",
			Vendor: "Patchnet Fixtures, Inc.", Category: "applications/internet", Manager: ManagerRPM,
			PURL: "pkg:rpm/rocky/patchnet-hello@1.2.3-4.el9?arch=noarch&distro=rocky-9.4&epoch=2"},
	}
	if diff := cmp.Diff(want, inv.Software); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(inv.Errors) != 0 {
		t.Errorf("errors: %+v", inv.Errors)
	}
}

// TestCorruptRPMDBIsAnError: a database that cannot be read is reported as
// the rpm collector's error, naming the file, and the rest of the inventory
// is still there.
func TestCorruptRPMDBIsAnError(t *testing.T) {
	good, err := os.ReadFile(rpmFixtures[0].path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		content    []byte
	}{
		{"garbage Packages", "var/lib/rpm/Packages", []byte(strings.Repeat("not a database ", 300))},
		{"truncated sqlite", "var/lib/rpm/rpmdb.sqlite", good[:len(good)/3]},
		{"empty Packages.db", "usr/lib/sysimage/rpm/Packages.db", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			copyFile(t, "testdata/os-release/rocky-9", filepath.Join(root, "etc/os-release"))
			writeFile(t, filepath.Join(root, tc.file), tc.content)
			inv := collectRoot(t, root)
			if len(inv.Errors) != 1 || inv.Errors[0].Collector != CollectorRPM ||
				!strings.Contains(inv.Errors[0].Error, "/"+tc.file) {
				t.Fatalf("errors = %+v, want one rpm error naming /%s", inv.Errors, tc.file)
			}
			if inv.OS.ID != "rocky" {
				t.Errorf("OS lost with the rpm error: %+v", inv.OS)
			}
		})
	}
}

func TestNoRPMIsNotAnError(t *testing.T) {
	inv := collectFixture(t, "alpine-3.20")
	if len(inv.Errors) != 0 {
		t.Errorf("errors on a host without rpm or dpkg: %+v", inv.Errors)
	}
}

func TestParseRPMHeaderMalformed(t *testing.T) {
	header := func(il, dl uint32, rest ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, il)
		return append(binary.BigEndian.AppendUint32(b, dl), rest...)
	}
	entry := func(tag, typ, off, count uint32) []byte {
		var b []byte
		for _, v := range []uint32{tag, typ, off, count} {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		blob    []byte
		wantMsg string
	}{
		{"short", []byte{0, 0, 0}, "shorter than the 8-byte preamble"},
		{"no entries", header(0, 0), "implausible header"},
		{"truncated", header(2, 100, entry(rpmTagName, rpmTypeString, 0, 1)...), "truncated"},
		{"offset outside", header(1, 4, append(entry(rpmTagName, rpmTypeString, 9, 1), 'a', 'b', 'c', 0)...), "offset 9 outside"},
		{"unterminated", header(1, 3, append(entry(rpmTagName, rpmTypeString, 0, 1), 'a', 'b', 'c')...), "not terminated"},
		{"wrong type", header(1, 4, append(entry(rpmTagName, rpmTypeInt32, 0, 1), 0, 0, 0, 1)...), "type 4 is not a string"},
		{"epoch outside", header(1, 2, append(entry(rpmTagEpoch, rpmTypeInt32, 0, 1), 0, 1)...), "epoch"},
		{"no name", header(1, 4, append(entry(rpmTagVersion, rpmTypeString, 0, 1), '1', '.', '0', 0)...), "no name or version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseRPMHeader(tc.blob)
			var got []Package
			if err == nil {
				got = []Package{p}
			}
			assertMalformed(t, got, err, tc.wantMsg)
		})
	}
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

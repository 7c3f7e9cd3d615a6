package sysinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOSReleaseFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		want OS
	}{
		{"debian-12", OS{ID: "debian", VersionID: "12", Codename: "bookworm", IDLike: []string{}, Ecosystem: "Debian:12"}},
		{"ubuntu-22.04", OS{ID: "ubuntu", VersionID: "22.04", Codename: "jammy", IDLike: []string{"debian"}, Ecosystem: "Ubuntu:22.04:LTS"}},
		{"alpine-3.20", OS{ID: "alpine", VersionID: "3.20.3", IDLike: []string{}, Ecosystem: "Alpine:v3.20"}},
		{"rhel-9", OS{ID: "rhel", VersionID: "9.4", Codename: "Plow", IDLike: []string{"fedora"}, Ecosystem: "Red Hat:enterprise_linux:9"}},
		{"rocky-9", OS{ID: "rocky", VersionID: "9.4", IDLike: []string{"rhel", "centos", "fedora"}, Ecosystem: "Rocky Linux:9"}},
		{"fedora-40", OS{ID: "fedora", VersionID: "40", IDLike: []string{}}},
		{"sles-15", OS{ID: "sles", VersionID: "15.5", IDLike: []string{"suse"}, Ecosystem: "SUSE:Linux Enterprise Server 15 SP5"}},
		{"opensuse-leap-15", OS{ID: "opensuse-leap", VersionID: "15.5", IDLike: []string{"suse", "opensuse"}, Ecosystem: "openSUSE:Leap 15.5"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rel := parseOSReleaseFile(t, filepath.Join("testdata/os-release", tc.file))
			got := osFromRelease(rel, "")
			got.Name, got.PrettyName, got.Version = "", "", ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestOSReleaseAgreesWithShell checks every assignment the parser reads
// against what a real POSIX shell makes of the same file when it sources
// it, which is how os-release(5) says the file may be read.
func TestOSReleaseAgreesWithShell(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	files, _ := filepath.Glob("testdata/os-release/*")
	files = append(files, "/etc/os-release")
	for _, file := range files {
		if _, err := os.Stat(file); err != nil {
			continue
		}
		rel := parseOSReleaseFile(t, file)
		if len(rel.Fields) < 4 {
			t.Errorf("%s: only %d fields", file, len(rel.Fields))
		}
		for key, got := range rel.Fields {
			out, err := exec.Command("sh", "-c", `. "$1"; eval "printf %s \"\${$2}\""`, "sh", file, key).Output()
			if err != nil {
				t.Fatalf("sh sourcing %s: %v", file, err)
			}
			if string(out) != got {
				t.Errorf("%s: %s = %q, shell says %q", file, key, got, out)
			}
		}
	}
}

func TestParseOSReleaseQuoting(t *testing.T) {
	rel, err := ParseOSRelease(strings.NewReader(`# comment
NAME="Quoted \"Linux\" \$HOME \\ \` + "`" + `"
ID='single $quoted'

  VERSION_ID=1.0
EMPTY=
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"NAME": "Quoted \"Linux\" $HOME \\ `", "ID": "single $quoted", "VERSION_ID": "1.0", "EMPTY": ""}
	if diff := cmp.Diff(want, rel.Fields); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseOSReleaseMalformed(t *testing.T) {
	for _, tc := range []struct{ name, in, wantMsg string }{
		{"no equals", "ID=debian\nthis line is wrong\n", "line 2: expected KEY=value"},
		{"bad name", "I-D=debian\n", "line 1: invalid variable name \"I-D\""},
		{"unterminated", "NAME=\"Debian\nID=debian\n", "line 1: NAME: unterminated \" quote"},
		{"after quote", "NAME=\"Debian\" GNU\n", "line 1: NAME: text after the closing quote"},
		{"stray quote", "NAME=Deb\"ian\n", "contains a quote"},
		{"binary", "ID=deb\x00ian\n", "line 1: binary data"},
		{"huge value", "NAME=" + strings.Repeat("x", maxFieldBytes+1) + "\n", "NAME is 4097 bytes"},
		{"huge file", strings.Repeat("A=b\n", maxSmallFileBytes/4+1), "file longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := ParseOSRelease(strings.NewReader(tc.in))
			var fields []string
			for k := range rel.Fields {
				fields = append(fields, k)
			}
			assertMalformed(t, fields, err, tc.wantMsg)
		})
	}
}

func TestOSFallsBackToUsrLib(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "testdata/os-release/fedora-40", filepath.Join(root, "usr/lib/os-release"))
	inv := collectRoot(t, root)
	if inv.OS.ID != "fedora" || inv.OS.Source != "/usr/lib/os-release" {
		t.Errorf("OS = %+v, want fedora from /usr/lib/os-release", inv.OS)
	}
	if len(inv.Errors) != 0 {
		t.Errorf("errors: %+v", inv.Errors)
	}
}

func TestNoOSReleaseIsAnError(t *testing.T) {
	inv := collectRoot(t, t.TempDir())
	if len(inv.Errors) != 1 || inv.Errors[0].Collector != CollectorOS ||
		!strings.Contains(inv.Errors[0].Error, "no os-release") {
		t.Errorf("errors = %+v, want one os error saying there is no os-release", inv.Errors)
	}
}

func parseOSReleaseFile(t *testing.T, name string) OSRelease {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rel, err := ParseOSRelease(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rel
}

func TestOSVEcosystemEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		rel  OSRelease
		want string
	}{
		{OSRelease{ID: "ubuntu", VersionID: "23.10", Version: "23.10 (Mantic Minotaur)"}, "Ubuntu:23.10"},
		{OSRelease{ID: "debian", Version: "trixie/sid"}, ""}, // testing: no VERSION_ID
		{OSRelease{ID: "almalinux", VersionID: "9.4"}, "AlmaLinux:9"},
		{OSRelease{ID: "opensuse-tumbleweed", VersionID: "20240601"}, "openSUSE:Tumbleweed"},
		{OSRelease{ID: "alpine", VersionID: "3.21.0_alpha20240807"}, "Alpine:v3.21"},
		{OSRelease{ID: "alpine", VersionID: "edge"}, ""},
		{OSRelease{ID: "arch"}, ""},
	} {
		if got := OSVEcosystem(tc.rel); got != tc.want {
			t.Errorf("OSVEcosystem(%+v) = %q, want %q", tc.rel, got, tc.want)
		}
	}
}

func TestPURLEscaping(t *testing.T) {
	o := OS{ID: "debian", VersionID: "12"}
	for _, tc := range []struct {
		p    Package
		want string
	}{
		{Package{Name: "libstdc++6", Version: "1:12.2.0-14+deb12u1", Arch: "amd64", Manager: ManagerDpkg},
			"pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12"},
		{Package{Name: "x", Version: "1", Manager: "pip"}, ""},
	} {
		if got := PURL(tc.p, o); got != tc.want {
			t.Errorf("PURL(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

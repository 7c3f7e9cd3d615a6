package updates

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		eco, a, b string
		want      int
	}{
		// dpkg: tilde sorts before anything, epochs dominate, revisions last.
		{"Debian:12", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", -1},
		{"Debian:12", "3.0.13-1~deb12u1", "3.0.13-1", -1},
		{"Debian:12", "1:2.38.1-5", "2.40-1", 1},
		{"Debian:12", "2.36-9+deb12u14", "2.36-9+deb12u4", 1},
		{"Debian:12", "1.0", "1.0-0", 0},
		{"Ubuntu:22.04:LTS", "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.12", -1},
		{"Ubuntu", "1:1.2.11.dfsg-2ubuntu9.2", "1:1.2.11.dfsg-2ubuntu9", 1},
		// rpm: segments, tilde and caret, epoch only when both carry one.
		{"Rocky Linux:9", "3.0.7-27.el9", "3.0.7-28.el9", -1},
		{"Red Hat:enterprise_linux:9", "1.0~rc1-1", "1.0-1", -1},
		{"Red Hat:enterprise_linux:9", "1.0^git1-1", "1.0-1", 1},
		{"AlmaLinux:9", "2:1.2.3-4.el9", "1:1.2.4-1.el9", 1},
		{"AlmaLinux:9", "2:1.2.3-4.el9", "1.2.4-1.el9", -1},
		{"AlmaLinux:9", "1.2.4-1.el9", "2:1.2.3-4.el9", 1},
		{"SUSE:Linux Enterprise Server 15 SP3", "2.31-9.3.2", "2.31-9.9.1", -1},
		{"openSUSE:Leap 15.5", "1.0a-1", "1.0-1", 1},
		{"Fedora", "0:1.0-1", "1.0-1", 0},
		// apk: suffixes and -rN.
		{"Alpine:v3.20", "3.3.2-r0", "3.3.2-r1", -1},
		{"Alpine:v3.20", "1.36.1-r29", "1.36.1-r29", 0},
		{"Alpine:v3.20", "1.0_rc1-r0", "1.0-r0", -1},
		{"Alpine:v3.20", "1.0_p1-r0", "1.0-r0", 1},
		{"Alpine:v3.20", "20240705-r0", "20240226-r0", 1},
	}
	for _, tt := range tests {
		got, err := CompareVersions(tt.eco, tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("CompareVersions(%q, %q, %q) = %d, %v; want %d", tt.eco, tt.a, tt.b, got, err, tt.want)
		}
		back, err := CompareVersions(tt.eco, tt.b, tt.a)
		if err != nil || back != -tt.want {
			t.Errorf("CompareVersions(%q, %q, %q) = %d, %v; want %d (antisymmetry)", tt.eco, tt.b, tt.a, back, err, -tt.want)
		}
	}
}

// TestCompareAgreesWithPackageManagers checks the comparators against the
// real dpkg and rpm on this machine.
func TestCompareAgreesWithPackageManagers(t *testing.T) {
	deb := [][2]string{
		{"3.0.11-1~deb12u1", "3.0.11-1~deb12u2"}, {"1:2.38.1-5", "2.40-1"}, {"1.0~rc1", "1.0"},
		{"2.36-9+deb12u14", "2.36-9+deb12u4"}, {"1.2.11.dfsg-2ubuntu9.2", "1.2.11.dfsg-2ubuntu9"},
		{"1.0a", "1.0+"}, {"0.0.1", "0.0.1-0"}, {"7.88.1-10+deb12u14", "7.88.1-10+deb12u5"},
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Log("dpkg not installed: skipping the dpkg half")
		deb = nil
	}
	for _, p := range deb {
		got, err := CompareVersions("Debian:12", p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		for op, want := range map[string]bool{"lt": got < 0, "eq": got == 0, "gt": got > 0} {
			err := exec.Command("dpkg", "--compare-versions", p[0], op, p[1]).Run()
			if real := err == nil; real != want {
				t.Errorf("dpkg --compare-versions %s %s %s = %v, ours %d", p[0], op, p[1], real, got)
			}
		}
	}
	rpm := [][2]string{
		{"3.0.7-27.el9", "3.0.7-28.el9"}, {"1.0~rc1-1", "1.0-1"}, {"1.0^git1-1", "1.0-1"},
		{"1.0a-1", "1.0-1"}, {"2:1.2.3-4.el9", "1:1.2.4-1.el9"}, {"2.31-9.3.2", "2.31-9.9.1"},
		{"1.0.010-1", "1.0.9-1"}, {"5.4.17-2136.el8uek", "5.4.17-2136.el8"},
	}
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Skip("rpm not installed")
	}
	for _, p := range rpm {
		got, err := CompareVersions("Rocky Linux:9", p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("rpm", "--eval", fmt.Sprintf(`%%{lua: print(rpm.vercmp(%q, %q))}`, p[0], p[1])).Output()
		if err != nil {
			t.Fatalf("rpm vercmp: %v", err)
		}
		if real := strings.TrimSpace(string(out)); real != fmt.Sprint(got) {
			t.Errorf("rpm.vercmp(%s, %s) = %s, ours %d", p[0], p[1], real, got)
		}
	}
}

func TestCompareVersionsErrors(t *testing.T) {
	tests := []struct {
		eco, a, b, want string
	}{
		{"Debian:12", "abc", "1.0", `parsing Debian version "abc"`},
		{"Debian:12", "x:1.0", "1.0", `parsing Debian version "x:1.0"`},
		{"Alpine:v3.20", "1.0-r0", "1.0.x.!", `parsing Alpine version "1.0.x.!"`},
		{"Rocky Linux:9", "a:1.0", "1.0", `epoch "a" is not a number`},
		{"Rocky Linux:9", "1:", "1.0", "want [epoch:]version[-release]"},
		{"Debian:12", "", "1.0", "version is empty"},
		{"Debian:12", "1.0 1", "1.0", "not printable ASCII"},
		{"Debian:12", strings.Repeat("1", MaxVersionLength+1), "1.0", "exceeds"},
		{"PyPI", "1.0", "2.0", "unknown ecosystem"},
	}
	for _, tt := range tests {
		_, err := CompareVersions(tt.eco, tt.a, tt.b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CompareVersions(%q, %q, %q) error = %v, want one containing %q", tt.eco, tt.a, tt.b, err, tt.want)
		}
	}
	if _, err := CompareVersions("npm", "1", "2"); !errors.Is(err, ErrUnknownEcosystem) {
		t.Errorf("unknown ecosystem error = %v, want ErrUnknownEcosystem", err)
	}
}

func TestCompareSemver(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.2.3", "1.2.4", -1},
		{"v1.2.3", "1.2.3", 0},
		{"1.0.0-alpha", "1.0.0", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0+build.1", "1.0.0+build.2", 0},
	}
	for _, tt := range tests {
		got, err := CompareSemver(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("CompareSemver(%q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
	if _, err := CompareSemver("1.2", "1.2.0"); err == nil {
		t.Error("CompareSemver accepted 1.2, which is not semantic versioning 2.0")
	}
}

func FuzzCompareVersions(f *testing.F) {
	seeds := [][3]string{
		{"Debian:12", "3.0.11-1~deb12u1", "1:3.0.13-1"},
		{"Rocky Linux:9", "2:1.2.3-4.el9", "1.2.4^git1-1.el9"},
		{"Alpine:v3.20", "1.0_rc1-r0", "1.0_p1-r3"},
		{"Ubuntu:22.04:LTS", "1:1.2.11.dfsg-2ubuntu9.2", "1.2.11"},
		{"SEMVER", "1.0.0-alpha.1", "v1.0.0+build"},
		{"Red Hat", "~~^~", "0::1"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, eco, a, b string) {
		var ab, ba int
		var err1, err2 error
		if eco == "SEMVER" {
			ab, err1 = CompareSemver(a, b)
			ba, err2 = CompareSemver(b, a)
		} else {
			ab, err1 = CompareVersions(eco, a, b)
			ba, err2 = CompareVersions(eco, b, a)
		}
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("error depends on argument order: %v / %v", err1, err2)
		}
		if err1 == nil && ab != -ba {
			t.Fatalf("compare(%q,%q)=%d but compare(%q,%q)=%d", a, b, ab, b, a, ba)
		}
	})
}

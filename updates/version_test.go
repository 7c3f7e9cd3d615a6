package updates

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	apkversion "github.com/knqyf263/go-apk-version"
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
		{"Alpine:v3.20", "1.0_alpha_pre2", "1.0.0~c0ffee-r1"},
		{"Alpine:v3.20", "2.10.1", "02.08.01b"},
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

// TestCompareApkVersions checks apk's order: the reviewer's pre-release
// cases (which go-apk-version got backwards after a "0" component) and a
// selection of apk-tools' own test/version.data lines.
func TestCompareApkVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		// Pre-release after a zero component.
		{"1.0_rc1", "1.0", -1},
		{"1.0_alpha1", "1.0", -1},
		{"1.0_beta2", "1.0", -1},
		{"1.0_pre1", "1.0", -1},
		{"2.0_rc1-r0", "2.0", -1},
		{"1.0_rc1-r0", "1.0-r0", -1},
		{"1.10_rc1-r0", "1.10", -1},
		{"3.0_beta-r0", "3.0_beta2", -1},
		{"1.0_rc1-r0", "1.0_p0-r0", -1},
		{"1.0_rc1", "1.0.1", -1},
		{"1.0_rc1", "1.0_rc1-r1", -1},
		{"2.4.58_rc1-r0", "2.4.57-r0", 1},
		// Suffix order and numbers.
		{"1.0_alpha", "1.0_beta", -1},
		{"1.0_beta9", "1.0_pre1", -1},
		{"1.0_pre", "1.0_rc", -1},
		{"1.0_cvs", "1.0_svn", -1},
		{"1.0_git", "1.0_hg", -1},
		{"1.0_hg", "1.0_p", -1},
		{"1.0_p", "1.0_p1", -1},
		{"1.0_p9-r0", "1.0_p10-r0", -1},
		{"0.1.0_alpha_pre2", "0.1.0_alpha", -1},
		{"1.0.0_pre20191002222144-r0", "1.0.0_pre20210530193627-r0", -1},
		// Letters, leading zeros, revisions, length.
		{"1.0", "1.0a", -1},
		{"2.3.0b-r1", "2.3.0b-r2", -1},
		{"1.02", "1.1", -1},
		{"1.2.07.8", "1.2.12.04", -1},
		{"2.10.1", "02.08.01b", 1},
		{"1.06-r6", "006", -1},
		{"3.0.20060720", "20060720", -1},
		{"1.2.12.1", "1.2.13", -1},
		{"22.7", "22.7.3-r1", -1},
		{"0.9.28", "0.9.28.1", -1},
		{"4.5_p1", "4.5_p1-r1", -1},
		{"1.0-r10", "1.0-r9", 1},
		{"1.0", "1.0-r0", -1},
		{"1.0.0", "1.0.0", 0},
		{"18446744073709551617", "18446744073709551616", 1},
		// Commit hash: after the suffixes, before the revision.
		{"1.0~abc1", "1.0~abc2", -1},
		{"1.0~abc1-r1", "1.0~abc1-r2", -1},
	}
	for _, tt := range tests {
		got, err := CompareVersions("Alpine:v3.20", tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("CompareVersions(Alpine, %q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
		back, err := CompareVersions("Alpine:v3.20", tt.b, tt.a)
		if err != nil || back != -tt.want {
			t.Errorf("CompareVersions(Alpine, %q, %q) = %d, %v; want %d", tt.b, tt.a, back, err, -tt.want)
		}
	}
}

func TestCompareApkVersionsRefuses(t *testing.T) {
	for v, want := range map[string]string{
		"r1":       "must start with a number",
		"1.0.x.!":  "dot not followed by a number",
		"1.":       "dot not followed by a number",
		"1.0_foo":  "unknown suffix",
		"1.0ab":    "unexpected character",
		"1.0-r":    `"-r" not followed by a number`,
		"1.0-1":    "unexpected character",
		"1.0~":     "hex commit hash",
		"1.0-r1.1": "unexpected character",
		"1.0_rc1a": "unexpected character",
	} {
		_, err := CompareVersions("Alpine:v3.20", v, "1.0")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "parsing Alpine version") {
			t.Errorf("%q: error %v, want one saying %q", v, err, want)
		}
	}
}

// apkBenchPairs are typical Alpine advisory comparisons.
var apkBenchPairs = [][2]string{
	{"3.3.2-r0", "3.3.2-r1"}, {"1.36.1-r29", "1.36.1-r30"}, {"2.4.58_rc1-r0", "2.4.57-r0"},
	{"6.5_p20250503-r0", "6.5_p20240101-r3"}, {"1.0.0_pre20191002222144-r0", "1.0.0-r0"},
}

// BenchmarkCompareApk measures our apk comparator; BenchmarkCompareApkLibrary
// is go-apk-version, which it replaced, on the same pairs: the baseline.
func BenchmarkCompareApk(b *testing.B) {
	for b.Loop() {
		for _, p := range apkBenchPairs {
			if _, err := compareApk(p[0], p[1]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCompareApkLibrary(b *testing.B) {
	for b.Loop() {
		for _, p := range apkBenchPairs {
			va, err := apkversion.NewVersion(p[0])
			if err != nil {
				b.Fatal(err)
			}
			vb, err := apkversion.NewVersion(p[1])
			if err != nil {
				b.Fatal(err)
			}
			va.Compare(vb)
		}
	}
}

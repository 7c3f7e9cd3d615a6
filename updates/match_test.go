package updates

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMatchAdvisoriesAgainstFixtures(t *testing.T) {
	tests := []struct {
		advisory, root string
		want           []string // affected installed packages, sorted
		reason         string   // a line Reasons must contain
	}{
		{"dsa-5532-1.json", "debian-12", nil,
			"openssl 3.0.22-1~deb12u2 >= fixed 3.0.11-1~deb12u2 on Debian:12"},
		{"dsa-9001-1.json", "debian-12", []string{"libssl-dev", "libssl3", "openssl"},
			"libssl3 (source openssl) 3.0.22-1~deb12u2 < fixed 3.0.23-1~deb12u1 on Debian:12"},
		{"dsa-9001-1.json", "distroless-debian-12", []string{"libssl3"},
			"libssl3 (source openssl) 3.0.22-1~deb12u2 < fixed 3.0.23-1~deb12u1 on Debian:12"},
		{"dla-openssl.json", "debian-12", nil,
			`no affected package is for this host's ecosystem "Debian:12" (announcement: Debian:11)`},
		{"dsa-util-linux.json", "debian-12", []string{"bsdextrautils", "bsdutils", "libblkid1", "libfdisk1",
			"libmount1", "libsmartcols1", "libuuid1", "mount", "util-linux", "util-linux-extra", "uuid-dev"},
			// bsdutils is 1:2.38.1-5+deb12u3; its source version has no epoch.
			"bsdutils (source util-linux) 2.38.1-5+deb12u3 < fixed 2.38.1-5+deb12u4 on Debian:12"},
		{"debian-glibc-last-affected.json", "debian-12", []string{"libc-bin", "libc-dev-bin", "libc-devtools",
			"libc-l10n", "libc6", "libc6-dbg", "libc6-dev", "locales"},
			"libc6 (source glibc) 2.36-9+deb12u14 <= last_affected 2.36-9+deb12u14 on Debian:12"},
		{"usn-6450-1.json", "ubuntu-22.04", []string{"libssl3", "openssl"},
			"openssl 3.0.2-0ubuntu1.10 is listed as affected on Ubuntu:22.04:LTS"},
		{"alpine-cve-2024-9143.json", "alpine-3.20", []string{"libcrypto3", "libssl3"},
			"libcrypto3 (source openssl) 3.3.2-r0 < fixed 3.3.2-r1 on Alpine:v3.20"},
		{"alpine-busybox.json", "alpine-3.20", nil,
			"busybox 1.36.1-r29 >= fixed 1.36.1-r29 on Alpine:v3.20"},
		{"rlsa-mailfix.json", "rocky-9", []string{"mailfix", "mailfix-libs"},
			"mailfix-libs 3.0.7-27.el9 < fixed 3.0.7-28.el9 on Rocky Linux:9"},
		{"rhsa-libuuid.json", "rhel-8", []string{"libuuid"},
			"libuuid 2.32.1-42.el8_8 < fixed 0:2.32.1-44.el8_9 on Red Hat:enterprise_linux:8"},
		{"rlsa-epoch-missing.json", "rocky-9", []string{"patchnet-hello"},
			"patchnet-hello 2:1.2.3-4.el9 < fixed 1.2.4-1.el9 on Rocky Linux:9"},
		{"rlsa-epoch-lower.json", "rocky-9", nil,
			"patchnet-hello 2:1.2.3-4.el9 >= fixed 1:1.2.4-1.el9 on Rocky Linux:9"},
		{"suse-glibc.json", "sles-15", []string{"glibc"},
			"glibc 2.31-9.3.2 < fixed 2.31-9.9.1 on SUSE:Linux Enterprise Server 15 SP3"},
		{"dsa-9001-1.json", "alpine-3.20", nil,
			`no affected package is for this host's ecosystem "Alpine:v3.20" (announcement: Debian:12, Debian:11)`},
	}
	hosts := map[string]Host{}
	for _, tt := range tests {
		t.Run(tt.advisory+"/"+tt.root, func(t *testing.T) {
			host, ok := hosts[tt.root]
			if !ok {
				host = fixtureHost(t, tt.root)
				hosts[tt.root] = host
			}
			res := Match(host, readAdvisory(t, tt.advisory))
			var got []string
			for _, p := range res.Packages {
				got = append(got, p.Installed.Name)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("affected packages (-want +got):\n%s\nreasons: %q", diff, res.Reasons)
			}
			if res.Applies != (len(tt.want) > 0) {
				t.Errorf("Applies = %v with %d packages", res.Applies, len(got))
			}
			if !slices.Contains(res.Reasons, tt.reason) {
				t.Errorf("reasons lack %q:\n%s", tt.reason, strings.Join(res.Reasons, "\n"))
			}
		})
	}
}

// TestMatchOSVEvents covers OSV's evaluation rules one at a time.
func TestMatchOSVEvents(t *testing.T) {
	ev := func(kind, v string) Event {
		switch kind {
		case "i":
			return Event{Introduced: v}
		case "f":
			return Event{Fixed: v}
		case "l":
			return Event{LastAffected: v}
		}
		return Event{Limit: v}
	}
	tests := []struct {
		name      string
		rangeType RangeType
		events    []Event
		version   string
		want      bool
		why       string
	}{
		{"introduced 0, below fix", RangeEcosystem, []Event{ev("i", "0"), ev("f", "1.2-1")}, "1.1-1", true, "1.1-1 < fixed 1.2-1"},
		{"at fix", RangeEcosystem, []Event{ev("i", "0"), ev("f", "1.2-1")}, "1.2-1", false, "1.2-1 >= fixed 1.2-1"},
		{"before introduced", RangeEcosystem, []Event{ev("i", "1.0-1"), ev("f", "1.2-1")}, "0.9-1", false, "0.9-1 < introduced 1.0-1"},
		{"at introduced", RangeEcosystem, []Event{ev("i", "1.0-1"), ev("f", "1.2-1")}, "1.0-1", true, "1.0-1 < fixed 1.2-1"},
		{"events unsorted in the record", RangeEcosystem, []Event{ev("f", "1.2-1"), ev("i", "1.0-1")}, "1.1-1", true, "1.1-1 < fixed 1.2-1"},
		{"second range of two", RangeEcosystem, []Event{ev("i", "1.0-1"), ev("f", "1.2-1"), ev("i", "2.0-1"), ev("f", "2.2-1")}, "2.1-1", true, "2.1-1 < fixed 2.2-1"},
		{"between two ranges", RangeEcosystem, []Event{ev("i", "1.0-1"), ev("f", "1.2-1"), ev("i", "2.0-1"), ev("f", "2.2-1")}, "1.5-1", false, "1.5-1 >= fixed 1.2-1"},
		{"last_affected equal", RangeEcosystem, []Event{ev("i", "0"), ev("l", "1.2-1")}, "1.2-1", true, "1.2-1 <= last_affected 1.2-1"},
		{"past last_affected", RangeEcosystem, []Event{ev("i", "0"), ev("l", "1.2-1")}, "1.2-2", false, "1.2-2 > last_affected 1.2-1"},
		{"no fix yet", RangeEcosystem, []Event{ev("i", "1.0-1")}, "9.0-1", true, "9.0-1 >= introduced 1.0-1 (no fixed version)"},
		{"below limit", RangeEcosystem, []Event{ev("i", "0"), ev("lim", "2.0-1")}, "1.0-1", true, "1.0-1 is affected (no fixed version)"},
		{"at limit", RangeEcosystem, []Event{ev("i", "0"), ev("lim", "2.0-1")}, "2.0-1", false, "2.0-1 is not below limit 2.0-1"},
		{"limit star", RangeEcosystem, []Event{ev("i", "0"), ev("lim", "*")}, "2.0-1", true, "2.0-1 is affected (no fixed version)"},
		{"semver", RangeSemver, []Event{ev("i", "1.2.0"), ev("f", "1.4.2")}, "1.4.1", true, "1.4.1 < fixed 1.4.2"},
		{"semver prerelease before fix", RangeSemver, []Event{ev("i", "0"), ev("f", "2.0.0")}, "2.0.0-rc.1", true, "2.0.0-rc.1 < fixed 2.0.0"},
		{"deb tilde sorts before", RangeEcosystem, []Event{ev("i", "0"), ev("f", "3.0.13-1")}, "3.0.13-1~deb12u1", true, "3.0.13-1~deb12u1 < fixed 3.0.13-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eco := "Debian:12"
			if tt.rangeType == RangeSemver {
				eco = "Go"
			}
			af := &Affected{Package: Package{Ecosystem: eco, Name: "p"}, Ranges: []Range{{Type: tt.rangeType, Events: tt.events}}}
			got, why := affectsVersion(af, tt.version)
			if got != tt.want || why != tt.why {
				t.Errorf("affectsVersion(%s) = %v, %q; want %v, %q", tt.version, got, why, tt.want, tt.why)
			}
		})
	}
}

func TestEcosystemMatches(t *testing.T) {
	tests := []struct {
		adv, host string
		want      bool
	}{
		{"Debian:12", "Debian:12", true},
		{"Debian", "Debian:12", true},
		{"Debian:11", "Debian:12", false},
		{"Debian:12", "Debian", false},
		{"Ubuntu:22.04:LTS", "Ubuntu:22.04:LTS", true},
		{"Ubuntu:22.04", "Ubuntu:22.04:LTS", true},
		{"Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04:LTS", false},
		{"Alpine:v3.20", "Alpine:v3.20", true},
		{"Alpine:v3.2", "Alpine:v3.20", false},
		{"Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9", true},
		{"Red Hat:enterprise_linux:8::baseos", "Red Hat:enterprise_linux:9", false},
		{"Rocky Linux:9", "Rocky Linux:9", true},
		{"Rocky Linux:9", "AlmaLinux:9", false},
		{"", "Debian:12", false},
		{"Debian:12", "", false},
	}
	for _, tt := range tests {
		if got := EcosystemMatches(tt.adv, tt.host); got != tt.want {
			t.Errorf("EcosystemMatches(%q, %q) = %v, want %v", tt.adv, tt.host, got, tt.want)
		}
	}
}

func TestMatchEmptyAffectedAppliesToEveryHost(t *testing.T) {
	a := &Announcement{ID: "PN-1"}
	res := Match(Host{Ecosystem: "Debian:12"}, a)
	if !res.Applies || len(res.Reasons) != 1 {
		t.Fatalf("Match = %+v, want applies with one reason", res)
	}
}

func TestMatchUnparseableInstalledVersionIsReported(t *testing.T) {
	host := Host{Ecosystem: "Debian:12", Packages: []Installed{{Name: "openssl", SourceName: "openssl", Version: "not a version"}}}
	a := readAdvisory(t, "dsa-9001-1.json")
	res := Match(host, a)
	if res.Applies {
		t.Fatalf("an unparseable version must not count as affected: %+v", res)
	}
	if len(res.Reasons) == 0 || !strings.Contains(res.Reasons[0], "cannot compare installed version") {
		t.Errorf("reasons = %q, want one saying the version cannot be compared", res.Reasons)
	}
}

func FuzzMatchRanges(f *testing.F) {
	f.Add("Debian:12", "0", "3.0.13-1~deb12u1", "", "", "3.0.11-1~deb12u1")
	f.Add("Alpine:v3.20", "3.3.0-r0", "3.3.2-r1", "", "", "3.3.2-r0")
	f.Add("Rocky Linux:9", "0", "1:1.2.4-1.el9", "", "", "2:1.2.3-4.el9")
	f.Add("Ubuntu:22.04:LTS", "1.0", "", "1.5", "2.0", "1.5")
	f.Add("Go", "1.0.0", "1.2.0", "", "*", "v1.1.0")
	f.Fuzz(func(t *testing.T, eco, intro, fixed, last, limit, installed string) {
		var events []Event
		for _, e := range []Event{{Introduced: intro}, {Fixed: fixed}, {LastAffected: last}, {Limit: limit}} {
			if e != (Event{}) {
				events = append(events, e)
			}
		}
		rt := RangeEcosystem
		if eco == "Go" {
			rt = RangeSemver
		}
		a := &Announcement{ID: "F-1", Affected: []Affected{{
			Package: Package{Ecosystem: eco, Name: "p"},
			Ranges:  []Range{{Type: rt, Events: events}},
		}}}
		host := Host{Ecosystem: eco, Packages: []Installed{{Name: "p", SourceName: "p", Version: installed}}}
		res := Match(host, a) // must never panic, valid or not
		if intro == "" || fixed == "" || last != "" || limit != "" {
			return
		}
		cmp := comparatorFor(rt, eco)
		ci, err1 := cmp(installed, intro)
		cf, err2 := cmp(installed, fixed)
		if intro == "0" {
			ci, err1 = 1, nil
		}
		if err1 != nil || err2 != nil {
			return
		}
		if order, err := cmp(intro, fixed); intro != "0" && (err != nil || order >= 0) {
			return // an empty or inverted range: OSV leaves it to the sort
		}
		want := ci >= 0 && cf < 0
		if res.Applies != want {
			t.Fatalf("introduced %q fixed %q installed %q: applies %v, want %v (%q)", intro, fixed, installed, res.Applies, want, res.Reasons)
		}
	})
}

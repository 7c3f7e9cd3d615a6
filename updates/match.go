package updates

import (
	"fmt"
	"sort"
	"strings"

	"github.com/patchnet/patchnet/sysinfo"
)

// Installed is one installed package as matching sees it: the binary
// package and the source package it was built from, because Debian, Ubuntu
// and Alpine advisories name source packages.
type Installed struct {
	Ecosystem     string
	Name          string
	Version       string
	SourceName    string
	SourceVersion string
	Arch          string
	Manager       string
}

// Host is what matching knows of the local machine: its OSV ecosystem and
// its packages. It never leaves the host (DESIGN.md: matching is local).
type Host struct {
	Ecosystem string
	Packages  []Installed
}

// HostFromInventory builds the matching view of a sysinfo inventory.
func HostFromInventory(inv *sysinfo.Inventory) Host {
	return Host{Ecosystem: inv.OS.Ecosystem, Packages: InstalledFromInventory(inv)}
}

// InstalledFromInventory converts sysinfo's packages, stamping each with the
// host's ecosystem.
func InstalledFromInventory(inv *sysinfo.Inventory) []Installed {
	out := make([]Installed, 0, len(inv.Software))
	for _, p := range inv.Software {
		out = append(out, Installed{
			Ecosystem: inv.OS.Ecosystem, Name: p.Name, Version: p.Version,
			SourceName: p.SourceName, SourceVersion: p.SourceVersion,
			Arch: p.Arch, Manager: p.Manager,
		})
	}
	return out
}

// MatchResult says whether an announcement applies to a host, and why, in
// sentences a person can read.
type MatchResult struct {
	Applies bool
	// Packages are the installed packages the announcement fixes.
	Packages []AffectedPackage
	// Reasons has one line per installed package considered, or one line
	// saying why none was.
	Reasons []string
}

// AffectedPackage is one installed package inside an affected range.
type AffectedPackage struct {
	Installed Installed
	// Affected is the index into Announcement.Affected that matched.
	Affected int
	// Reason reads like "openssl 3.0.11-1~deb12u1 < fixed 3.0.13-1~deb12u1
	// on Debian:12".
	Reason string
}

// Match evaluates a against the host's packages with OSV's semantics:
// events sorted in the ecosystem's order, introduced "0" before everything,
// fixed and last_affected closing a range, limit bounding it; a listed
// version is affected. An announcement with no affected entries (a script or
// archive for the whole zone) applies to every host. Match never fails: a
// version that cannot be compared is reported in Reasons and not counted as
// affected.
func Match(host Host, a *Announcement) MatchResult {
	var res MatchResult
	if len(a.Affected) == 0 {
		res.Applies = true
		res.Reasons = []string{"the announcement names no affected package: it applies to every host"}
		return res
	}
	hits := map[int]hit{} // by index into host.Packages
	ecoSeen, named := false, map[string]bool{}
	for i := range a.Affected {
		af := &a.Affected[i]
		if !EcosystemMatches(af.Package.Ecosystem, host.Ecosystem) {
			continue
		}
		ecoSeen = true
		if !collectHits(host, i, af, hits) {
			named[af.Package.Name] = true
		}
	}
	res.addHits(host, hits)
	for _, name := range sortedKeys(named) {
		res.Reasons = append(res.Reasons, fmt.Sprintf("%s is not installed (%s)", name, host.Ecosystem))
	}
	res.Applies = len(res.Packages) > 0
	if !ecoSeen {
		res.Reasons = append(res.Reasons, fmt.Sprintf("no affected package is for this host's ecosystem %q (announcement: %s)",
			host.Ecosystem, strings.Join(ecosystemsOf(a), ", ")))
	}
	return res
}

// hit is one installed package named by one affected entry.
type hit struct {
	entry    int  // index into Announcement.Affected
	exact    bool // named by its binary name, not its source
	affected bool
	line     string
}

// collectHits evaluates af against every installed package it names. A
// package named by several entries keeps the entry that names its binary
// (rpm advisories list each binary), else the first. It reports whether
// any installed package was named.
func collectHits(host Host, i int, af *Affected, hits map[int]hit) bool {
	found := false
	for j, p := range host.Packages {
		version, ok := packageMatches(af.Package, p)
		if !ok {
			continue
		}
		found = true
		exact := p.Name == af.Package.Name
		if prev, seen := hits[j]; seen && (prev.exact || !exact) {
			continue
		}
		affected, why := affectsVersion(af, version)
		line := fmt.Sprintf("%s %s on %s", packageLabel(p, af.Package.Name), why, host.Ecosystem)
		hits[j] = hit{entry: i, exact: exact, affected: affected, line: line}
	}
	return found
}

func (res *MatchResult) addHits(host Host, hits map[int]hit) {
	for j, p := range host.Packages {
		h, ok := hits[j]
		if !ok {
			continue
		}
		res.Reasons = append(res.Reasons, h.line)
		if h.affected {
			res.Packages = append(res.Packages, AffectedPackage{Installed: p, Affected: h.entry, Reason: h.line})
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// packageMatches decides whether installed package p is the advisory's
// package and returns the version to compare. Debian and Ubuntu advisories
// name source packages and give source versions (binNMUs add "+bN" to the
// binary only); Alpine's secdb names origin packages; rpm advisories name
// binary packages, sometimes the SRPM, so both are tried.
func packageMatches(ap Package, p Installed) (string, bool) {
	source := p.SourceName
	if source == "" {
		source = p.Name
	}
	switch EcosystemFamily(ap.Ecosystem) {
	case FamilyDeb:
		if source != ap.Name {
			return "", false
		}
		if p.SourceVersion != "" {
			return p.SourceVersion, true
		}
		return p.Version, true
	case FamilyApk, FamilyRPM:
		return p.Version, source == ap.Name || p.Name == ap.Name
	}
	return p.Version, p.Name == ap.Name
}

func packageLabel(p Installed, advisoryName string) string {
	if p.Name == advisoryName {
		return p.Name
	}
	return fmt.Sprintf("%s (source %s)", p.Name, advisoryName)
}

// affectsVersion applies OSV's evaluation to one installed version and says
// why, e.g. "3.0.11-1~deb12u1 < fixed 3.0.13-1~deb12u1".
func affectsVersion(af *Affected, version string) (bool, string) {
	eco := af.Package.Ecosystem
	for _, listed := range af.Versions {
		if c, err := CompareVersions(eco, version, listed); listed == version || err == nil && c == 0 {
			return true, fmt.Sprintf("%s is listed as affected", version)
		}
	}
	var notes []string
	for _, r := range af.Ranges {
		hit, why := evaluateRange(eco, r, version)
		if hit {
			return true, why
		}
		notes = append(notes, why)
	}
	if len(notes) == 0 {
		return false, fmt.Sprintf("%s is not listed as affected", version)
	}
	return false, strings.Join(notes, "; ")
}

// comparatorFor returns the version order of a range.
func comparatorFor(t RangeType, ecosystem string) func(a, b string) (int, error) {
	if t == RangeSemver {
		return CompareSemver
	}
	return func(a, b string) (int, error) { return CompareVersions(ecosystem, a, b) }
}

// evaluateRange is OSV's algorithm for one range: walk the sorted events,
// an introduced at or below v opens, a fixed at or below v closes, a
// last_affected below v closes; v must also be below some limit if any.
func evaluateRange(ecosystem string, r Range, v string) (bool, string) {
	if r.Type == RangeGit {
		return false, fmt.Sprintf("%s: GIT range of %s cannot be evaluated against packages", v, r.Repo)
	}
	cmp := comparatorFor(r.Type, ecosystem)
	events, err := sortEvents(r.Events, cmp)
	if err != nil {
		return false, fmt.Sprintf("%s: cannot order the range: %v", v, err)
	}
	if _, err := cmp(v, v); err != nil {
		return false, fmt.Sprintf("cannot compare installed version: %v", err)
	}
	return walkEvents(events, v, cmp)
}

func walkEvents(events []Event, v string, cmp func(a, b string) (int, error)) (bool, string) {
	vulnerable, why := false, ""
	var limits []string
	for i, e := range events {
		kind, ev, _ := e.kindAndVersion()
		c := compareEvent(kind, ev, v, cmp) // sign of v against ev
		switch {
		case kind == "introduced" && c >= 0:
			vulnerable, why = true, upperBound(events[i+1:], v, ev, cmp)
		case kind == "fixed" && c >= 0:
			vulnerable, why = false, fmt.Sprintf("%s >= fixed %s", v, ev)
		case kind == "last_affected" && c > 0:
			vulnerable, why = false, fmt.Sprintf("%s > last_affected %s", v, ev)
		case kind == "limit":
			limits = append(limits, ev)
		case kind == "introduced" && why == "":
			why = fmt.Sprintf("%s < introduced %s", v, ev)
		}
	}
	if vulnerable && !belowSomeLimit(limits, v, cmp) {
		return false, fmt.Sprintf("%s is not below limit %s", v, strings.Join(limits, ", "))
	}
	return vulnerable, why
}

// compareEvent returns the sign of v against an event version, treating
// introduced "0" as below everything and limit "*" as above everything.
func compareEvent(kind, ev, v string, cmp func(a, b string) (int, error)) int {
	if kind == "introduced" && ev == "0" {
		return 1
	}
	if kind == "limit" && ev == "*" {
		return -1
	}
	c, err := cmp(v, ev)
	if err != nil {
		// Unreachable once evaluateRange has ordered the events and parsed
		// v; treated as "below the event" all the same.
		return -1
	}
	return c
}

// upperBound describes why v, opened by introduced intro, is still affected:
// the next closing event above it, if any.
func upperBound(rest []Event, v, intro string, cmp func(a, b string) (int, error)) string {
	for _, e := range rest {
		kind, ev, _ := e.kindAndVersion()
		switch kind {
		case "fixed":
			return fmt.Sprintf("%s < fixed %s", v, ev)
		case "last_affected":
			return fmt.Sprintf("%s <= last_affected %s", v, ev)
		}
	}
	if intro == "0" {
		return fmt.Sprintf("%s is affected (no fixed version)", v)
	}
	return fmt.Sprintf("%s >= introduced %s (no fixed version)", v, intro)
}

func belowSomeLimit(limits []string, v string, cmp func(a, b string) (int, error)) bool {
	if len(limits) == 0 {
		return true
	}
	for _, l := range limits {
		if compareEvent("limit", l, v, cmp) < 0 {
			return true
		}
	}
	return false
}

// sortEvents orders events by version; introduced "0" first, limit "*"
// last. At one version, introduced sorts before the events that close.
func sortEvents(events []Event, cmp func(a, b string) (int, error)) ([]Event, error) {
	out := append([]Event(nil), events...)
	var firstErr error
	key := func(e Event) (int, string) {
		kind, v, err := e.kindAndVersion()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		switch {
		case kind == "introduced" && v == "0":
			return -1, v
		case kind == "limit" && v == "*":
			return 1, v
		}
		return 0, v
	}
	sort.SliceStable(out, func(i, j int) bool {
		bi, vi := key(out[i])
		bj, vj := key(out[j])
		if bi != bj || bi != 0 {
			return bi < bj
		}
		c, err := cmp(vi, vj)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return false
		}
		if c == 0 {
			return eventRank(out[i]) < eventRank(out[j])
		}
		return c < 0
	})
	return out, firstErr
}

func eventRank(e Event) int {
	kind, _, _ := e.kindAndVersion()
	switch kind {
	case "introduced":
		return 0
	case "last_affected":
		return 1
	case "fixed":
		return 2
	}
	return 3
}

// EcosystemMatches reports whether an advisory for ecosystem adv applies to
// a host of ecosystem host: adv's colon-separated parts must be a prefix of
// the host's ("Debian" and "Debian:12" both match a "Debian:12" host).
// Red Hat names a repository after the release ("Red Hat:enterprise_linux:9
// ::appstream"), which no local database records, so for Red Hat only the
// parts the host has are compared.
func EcosystemMatches(adv, host string) bool {
	if adv == "" || host == "" {
		return false
	}
	ap, hp := strings.Split(adv, ":"), strings.Split(host, ":")
	if len(ap) > len(hp) && ap[0] != "Red Hat" {
		return false
	}
	for i := 0; i < len(ap) && i < len(hp); i++ {
		if ap[i] != hp[i] {
			return false
		}
	}
	return true
}

func ecosystemsOf(a *Announcement) []string {
	var out []string
	seen := map[string]bool{}
	for _, af := range a.Affected {
		if e := af.Package.Ecosystem; !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

package sysinfo

import (
	"strings"
)

// purlTypes maps a package manager to its package-url type
// (https://github.com/package-url/purl-spec).
var purlTypes = map[string]string{ManagerDpkg: "deb", ManagerRPM: "rpm", ManagerApk: "apk"}

// purlNamespaces maps os-release IDs whose purl namespace differs from the
// ID (the purl spec's rpm examples use the vendor's name).
var purlNamespaces = map[string]string{"rhel": "redhat"}

// PURL builds the package URL of p on the distribution o, for example
// pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=debian-12.
// For rpm the epoch moves from the version to an epoch qualifier, as the
// purl spec asks.
func PURL(p Package, o OS) string {
	typ, ok := purlTypes[p.Manager]
	if !ok || p.Name == "" {
		return ""
	}
	version, epoch := p.Version, ""
	if p.Manager == ManagerRPM {
		if e, rest, found := strings.Cut(version, ":"); found {
			epoch, version = e, rest
		}
	}
	var b strings.Builder
	b.WriteString("pkg:" + typ + "/")
	if ns := purlNamespace(o.ID); ns != "" {
		b.WriteString(purlEscape(ns) + "/")
	}
	b.WriteString(purlEscape(p.Name) + "@" + purlEscape(version))
	// Qualifiers in lexical key order, as the spec's canonical form has them.
	sep := "?"
	for _, q := range [][2]string{{"arch", p.Arch}, {"distro", distroQualifier(o)}, {"epoch", epoch}} {
		if q[1] != "" {
			b.WriteString(sep + q[0] + "=" + purlEscape(q[1]))
			sep = "&"
		}
	}
	return b.String()
}

// purlNamespace is the vendor namespace for an os-release ID.
func purlNamespace(id string) string {
	if ns, ok := purlNamespaces[id]; ok {
		return ns
	}
	return id
}

// distroQualifier is "debian-12", "alpine-3.20.3", ...
func distroQualifier(o OS) string {
	if o.ID == "" || o.VersionID == "" {
		return o.ID
	}
	return o.ID + "-" + o.VersionID
}

// purlEscape percent-encodes everything but RFC 3986 unreserved
// characters, so '+' and ':' in versions survive a round trip.
func purlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

package sysinfo

import (
	"strings"
)

// OSVEcosystem names the OSV ecosystem (https://ossf.github.io/osv-schema/)
// whose advisories apply to the distribution described by rel, or "" when
// OSV has none for it (Fedora) or the release is not numbered (Debian
// testing). Red Hat's ecosystem names continue with a repository
// ("Red Hat:enterprise_linux:9::baseos"), which no local database records;
// the prefix up to the major version is returned and matchers compare
// prefixes.
func OSVEcosystem(rel OSRelease) string {
	v := rel.VersionID
	switch rel.ID {
	case "debian":
		return versioned("Debian:", major(v))
	case "ubuntu":
		if v == "" {
			return ""
		}
		if strings.Contains(rel.Version, "LTS") {
			return "Ubuntu:" + v + ":LTS"
		}
		return "Ubuntu:" + v
	case "alpine":
		if v == "" || v[0] < '0' || v[0] > '9' {
			return "" // edge has no OSV ecosystem
		}
		return versioned("Alpine:v", majorMinor(v))
	case "rhel":
		return versioned("Red Hat:enterprise_linux:", major(v))
	case "rocky":
		return versioned("Rocky Linux:", major(v))
	case "almalinux":
		return versioned("AlmaLinux:", major(v))
	case "sles", "sled", "sles_sap":
		return versioned("SUSE:", strings.TrimPrefix(rel.PrettyName, "SUSE "))
	case "opensuse-leap":
		return versioned("openSUSE:Leap ", v)
	case "opensuse-tumbleweed":
		return "openSUSE:Tumbleweed"
	}
	return ""
}

// versioned joins prefix and version, or gives "" without a version.
func versioned(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}

// major is "9" of "9.4".
func major(v string) string {
	m, _, _ := strings.Cut(v, ".")
	return m
}

// majorMinor is "3.20" of "3.20.3".
func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

package sysinfo

import (
	"encoding/xml"
	"time"
)

// SchemaVersion names the JSON and XML layout of Inventory (see doc.go). It
// changes only when a field is renamed, removed or changes meaning; adding a
// field does not change it.
const SchemaVersion = "patchnet.sysinfo/v1"

// Package managers a Package can come from.
const (
	ManagerDpkg = "dpkg"
	ManagerRPM  = "rpm"
	ManagerApk  = "apk"
)

// Host kinds Meta.Kind can take.
const (
	KindServer      = "server"
	KindWorkstation = "workstation"
	KindLaptop      = "laptop"
	KindVM          = "vm"
	KindContainer   = "container"
	// KindUnknown is an image or a fixture: no running host to examine.
	KindUnknown = "unknown"
)

// Inventory is the host's configuration in the paper's five categories, plus
// the errors of the collectors that failed. A failed collector leaves its
// category empty and says why in Errors; the other categories stay valid.
type Inventory struct {
	XMLName  xml.Name         `json:"-" xml:"inventory"`
	Schema   string           `json:"schema" xml:"schema,attr"`
	Meta     Meta             `json:"meta" xml:"meta"`
	Hardware Hardware         `json:"hardware" xml:"hardware"`
	OS       OS               `json:"os" xml:"os"`
	Software []Package        `json:"software" xml:"software>package"`
	Services []Service        `json:"services" xml:"services>service"`
	Errors   []CollectorError `json:"errors" xml:"errors>error"`
}

// Meta states what the host is.
type Meta struct {
	// Kind is one of the Kind* constants; KindEvidence lists what decided it.
	Kind         string   `json:"kind" xml:"kind"`
	KindEvidence []string `json:"kind_evidence" xml:"kind-evidence>evidence"`
	Hostname     string   `json:"hostname,omitempty" xml:"hostname,omitempty"`
	// HostID is a salted SHA-256 of the machine-id, never the id itself:
	// stable for the host, useless for looking the machine-id up.
	HostID       string    `json:"host_id,omitempty" xml:"host-id,omitempty"`
	AgentVersion string    `json:"agent_version" xml:"agent-version"`
	Root         string    `json:"root" xml:"root"`
	CollectedAt  time.Time `json:"collected_at" xml:"collected-at"`
	// Redacted is true when hostname, host id and addresses were removed.
	Redacted bool `json:"redacted" xml:"redacted"`
}

// Hardware is the processor and memory of the host. Zero values mean the
// root has no /proc to read them from (an image or fixture, not a live host).
type Hardware struct {
	Architecture  string  `json:"architecture" xml:"architecture"`
	CPUModel      string  `json:"cpu_model" xml:"cpu-model"`
	CPUVendor     string  `json:"cpu_vendor" xml:"cpu-vendor"`
	LogicalCores  int     `json:"logical_cores" xml:"logical-cores"`
	PhysicalCores int     `json:"physical_cores" xml:"physical-cores"`
	MHz           float64 `json:"mhz" xml:"mhz"`
	CacheKB       int     `json:"cache_kb" xml:"cache-kb"`
	MemoryBytes   uint64  `json:"memory_bytes" xml:"memory-bytes"`
}

// OS is the operating system, from os-release and the running kernel.
type OS struct {
	ID         string   `json:"id" xml:"id"`
	Name       string   `json:"name" xml:"name"`
	PrettyName string   `json:"pretty_name" xml:"pretty-name"`
	Version    string   `json:"version" xml:"version"`
	VersionID  string   `json:"version_id" xml:"version-id"`
	Codename   string   `json:"codename" xml:"codename"`
	IDLike     []string `json:"id_like" xml:"id-like>id"`
	// Kernel is the running kernel's release; empty when Root has no /proc.
	Kernel string `json:"kernel" xml:"kernel"`
	// Ecosystem is the OSV ecosystem ("Debian:12", "Ubuntu:22.04:LTS",
	// "Alpine:v3.20", "Red Hat:enterprise_linux:9", "Rocky Linux:9"); empty
	// when OSV has none for this distribution (Fedora, for one).
	Ecosystem string `json:"ecosystem" xml:"ecosystem"`
	// Source is the os-release file read, relative to Root.
	Source string `json:"source" xml:"source"`
}

// Package is one installed package, with what advisories match on.
type Package struct {
	Name string `json:"name" xml:"name"`
	// Version is the full version as the package manager orders it:
	// dpkg "[epoch:]upstream-revision", rpm "[epoch:]version-release",
	// apk "version-rN".
	Version string `json:"version" xml:"version"`
	Arch    string `json:"arch" xml:"arch"`
	// SourceName and SourceVersion name the source package (dpkg Source:,
	// rpm SOURCERPM, apk origin); advisories are written against them.
	SourceName    string `json:"source_name" xml:"source-name"`
	SourceVersion string `json:"source_version" xml:"source-version"`
	// Vendor is the rpm Vendor tag, or the dpkg or apk maintainer.
	Vendor string `json:"vendor" xml:"vendor"`
	// Category is the paper's "kind/area" category ("network/email"), derived
	// from the dpkg section or rpm group; empty when the package has neither.
	Category string `json:"category" xml:"category"`
	PURL     string `json:"purl" xml:"purl"`
	Manager  string `json:"manager" xml:"manager"`
}

// Service is a socket listening for connections (TCP) or datagrams (UDP).
type Service struct {
	Protocol string `json:"protocol" xml:"protocol"` // "tcp" or "udp"
	Family   string `json:"family" xml:"family"`     // "ipv4" or "ipv6"
	Address  string `json:"address,omitempty" xml:"address,omitempty"`
	Port     int    `json:"port" xml:"port"`
	// Name comes from Root's /etc/services; empty for unregistered ports.
	Name string `json:"name" xml:"name"`
	// Process and PID are empty when the owning process is not readable.
	Process string `json:"process" xml:"process"`
	PID     int    `json:"pid" xml:"pid"`
}

// CollectorError is one collector's failure. Absence is not failure: a host
// without rpm has no rpm error, a corrupt rpm database has one.
type CollectorError struct {
	Collector string `json:"collector" xml:"collector,attr"`
	Error     string `json:"error" xml:",chardata"`
}

// Redacted returns a copy without hostname, host id and addresses, for
// showing or sending an inventory that must not identify the host.
func (inv *Inventory) Redacted() *Inventory {
	out := *inv
	out.Meta.Hostname = ""
	out.Meta.HostID = ""
	out.Meta.Redacted = true
	out.Services = make([]Service, len(inv.Services))
	for i, s := range inv.Services {
		s.Address = ""
		out.Services[i] = s
	}
	return &out
}

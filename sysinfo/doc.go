// Package sysinfo describes the host it runs on in the five categories of the
// Teo–Zheng paper (section IV.C): meta information, hardware, operating
// system, software and services. It reads from a configurable filesystem root
// so containers, chroots and test fixtures are first-class.
//
// It must not send anything anywhere: inventory leaves the host only when the
// operator opts into reporting, and that decision belongs to node. It must
// not run the package managers either: it reads their databases (dpkg
// status and status.d, the rpm database in its SQLite, NDB and BerkeleyDB
// backends, apk's installed file), which is faster and works on a root
// whose binaries cannot run here.
//
// # Sources
//
//   - Meta: host kind from /.dockerenv, /run/.containerenv,
//     /run/systemd/container, /proc/1/cgroup, DMI (/sys/class/dmi/id),
//     /sys/hypervisor, the cpuinfo hypervisor flag and batteries, with the
//     evidence; hostname; a salted SHA-256 of /etc/machine-id.
//   - Hardware: /proc/cpuinfo, /proc/meminfo (gopsutil) under Root.
//   - OS: /etc/os-release, else /usr/lib/os-release; /proc/sys/kernel.
//   - Software: only packages dpkg calls "installed"; every rpm header;
//     every apk stanza.
//   - Services: /proc/net/{tcp,tcp6,udp,udp6} (TCP in LISTEN, UDP bound and
//     unconnected), owners from /proc/*/fd, names from Root's /etc/services.
//
// # Schema (JSON and XML), version "patchnet.sysinfo/v1"
//
// JSON field names are fixed; new fields may be added within a version, and
// a rename, removal or change of meaning bumps SchemaVersion. Empty lists
// are [] (never null). XML has the same content with a root <inventory
// schema="..."> and one element per category: <meta>, <hardware>, <os>,
// <software> (one <package> each), <services> (one <service> each),
// <errors> (one <error collector="..."> each); names are the JSON names with
// '_' written '-'.
//
//	schema            string   "patchnet.sysinfo/v1"
//	meta
//	  kind            string   server | workstation | laptop | vm | container |
//	                           unknown (an image: no /proc or /sys to examine)
//	  kind_evidence   []string what decided kind, e.g. "/.dockerenv exists (Docker)"
//	  hostname        string   omitted when redacted
//	  host_id         string   hex SHA-256("patchnet host id v1\x00" + machine-id);
//	                           omitted when redacted or without machine-id
//	  agent_version   string
//	  root            string   the filesystem root described
//	  collected_at    string   RFC 3339, UTC
//	  redacted        bool
//	hardware                   zero when Root has no /proc (an image)
//	  architecture    string   kernel machine name: x86_64, aarch64, ...
//	  cpu_model, cpu_vendor string
//	  logical_cores, physical_cores int
//	  mhz             number
//	  cache_kb        int
//	  memory_bytes    int
//	os
//	  id, name, pretty_name, version, version_id, codename string
//	  id_like         []string
//	  kernel          string   running kernel release; "" without /proc
//	  ecosystem       string   OSV ecosystem: "Debian:12", "Ubuntu:22.04:LTS",
//	                           "Alpine:v3.20", "Red Hat:enterprise_linux:9",
//	                           "Rocky Linux:9", "AlmaLinux:9",
//	                           "SUSE:Linux Enterprise Server 15 SP5",
//	                           "openSUSE:Leap 15.5"; "" if OSV has none
//	  source          string   the os-release file read
//	software[]                 one per installed package, database order
//	  name, version, arch string  version as the manager orders it
//	                           (rpm: [epoch:]version-release)
//	  source_name, source_version string  dpkg Source, rpm SOURCERPM, apk origin
//	  vendor          string   rpm Vendor; dpkg or apk maintainer
//	  category        string   "network/email" style, from dpkg Section or
//	                           rpm Group; "" when there is none
//	  purl            string   pkg:deb|rpm|apk/<os id>/<name>@<version>?arch=..&distro=..
//	  manager         string   dpkg | rpm | apk
//	services[]                 sorted by protocol, port, family, address
//	  protocol        string   tcp | udp
//	  family          string   ipv4 | ipv6
//	  address         string   omitted when redacted
//	  port            int
//	  name            string   from /etc/services; "" if unregistered
//	  process         string   owner's comm; "" when not readable
//	  pid             int      0 when not readable
//	errors[]
//	  collector       string   hardware | os | dpkg | rpm | apk | services
//	  error           string
package sysinfo

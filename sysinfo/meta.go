package sysinfo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// hostIDPrefix separates patchnet's host ids from other hashes of the
// machine-id: machine-id(5) asks that it never be exposed raw, and a
// domain-specific prefix makes the hash useless for matching other tools'.
const hostIDPrefix = "patchnet host id v1\x00"

// collectMeta fills everything in Meta that is read from root.
func collectMeta(root *os.Root) Meta {
	kind, evidence := detectKind(root)
	return Meta{
		Kind:         kind,
		KindEvidence: evidence,
		Hostname:     hostname(root),
		HostID:       hostID(root),
	}
}

// hostname is the kernel's (a chroot shares it) or, in an image, the
// one /etc/hostname would set.
func hostname(root *os.Root) string {
	if h := readTrimmed(root, "proc/sys/kernel/hostname"); h != "" {
		return h
	}
	h, _, _ := strings.Cut(readTrimmed(root, "etc/hostname"), "\n")
	return strings.TrimSpace(h)
}

// hostID hashes the machine-id; "" when the host has none yet.
func hostID(root *os.Root) string {
	for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
		id := readTrimmed(root, p)
		if id == "" || id == "uninitialized" {
			continue
		}
		sum := sha256.Sum256([]byte(hostIDPrefix + id))
		return hex.EncodeToString(sum[:])
	}
	return ""
}

// detectKind decides what the host is, most specific first: a container on
// a laptop is a container, a VM is a VM whatever chassis it claims.
func detectKind(root *os.Root) (string, []string) {
	for _, d := range []struct {
		kind   string
		detect func(*os.Root) []string
	}{
		{KindContainer, containerEvidence},
		{KindVM, vmEvidence},
		{KindLaptop, laptopEvidence},
		{KindWorkstation, chassisEvidence(desktopChassis)},
		{KindServer, chassisEvidence(serverChassis)},
	} {
		if ev := d.detect(root); len(ev) > 0 {
			return d.kind, ev
		}
	}
	if !exists(root, "proc/self") && !exists(root, "sys/class") {
		return KindUnknown, []string{"no /proc or /sys under the root: an image, not a running host"}
	}
	return KindServer, []string{"no container, virtual machine, laptop or desktop evidence"}
}

// containerMarkers are substrings of /proc/1/cgroup that container
// runtimes leave (cgroup v1; under v2 it reads "0::/" and says nothing).
var containerMarkers = []string{"docker", "kubepods", "containerd", "libpod", "lxc"}

func containerEvidence(root *os.Root) []string {
	var ev []string
	if exists(root, ".dockerenv") {
		ev = append(ev, "/.dockerenv exists (Docker)")
	}
	if exists(root, "run/.containerenv") {
		ev = append(ev, "/run/.containerenv exists (Podman)")
	}
	if c := readTrimmed(root, "run/systemd/container"); c != "" {
		ev = append(ev, fmt.Sprintf("/run/systemd/container says %q", c))
	}
	cg := readTrimmed(root, "proc/1/cgroup")
	for _, m := range containerMarkers {
		if strings.Contains(cg, m) {
			ev = append(ev, fmt.Sprintf("/proc/1/cgroup mentions %q", m))
		}
	}
	return ev
}

// vmVendors are DMI strings hypervisors present (product, vendor, BIOS).
var vmVendors = []string{"QEMU", "KVM", "VMware", "VirtualBox", "innotek", "Xen", "Bochs",
	"Virtual Machine", "Amazon EC2", "Google Compute Engine", "Parallels", "BHYVE", "OpenStack"}

func vmEvidence(root *os.Root) []string {
	var ev []string
	for _, f := range []string{"product_name", "sys_vendor", "bios_vendor"} {
		v := readTrimmed(root, "sys/class/dmi/id/"+f)
		for _, m := range vmVendors {
			if strings.Contains(v, m) {
				ev = append(ev, fmt.Sprintf("DMI %s is %q", f, v))
				break
			}
		}
	}
	if t := readTrimmed(root, "sys/hypervisor/type"); t != "" {
		ev = append(ev, fmt.Sprintf("/sys/hypervisor/type is %q", t))
	}
	if cpuHasHypervisorFlag(root) {
		ev = append(ev, "/proc/cpuinfo has the hypervisor flag")
	}
	return ev
}

// cpuHasHypervisorFlag reads the first processor's flags only.
func cpuHasHypervisorFlag(root *os.Root) bool {
	f, err := root.Open("proc/cpuinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			return false
		}
		if bytes.HasPrefix(line, []byte("flags")) {
			return bytes.Contains(line, []byte(" hypervisor"))
		}
	}
	return false
}

// SMBIOS chassis types (DMTF DSP0134, table 17).
var (
	laptopChassis  = map[string]string{"8": "Portable", "9": "Laptop", "10": "Notebook", "14": "Sub Notebook", "30": "Tablet", "31": "Convertible", "32": "Detachable"}
	desktopChassis = map[string]string{"3": "Desktop", "4": "Low Profile Desktop", "6": "Mini Tower", "7": "Tower", "13": "All in One", "15": "Space-saving", "35": "Mini PC"}
	serverChassis  = map[string]string{"17": "Main Server Chassis", "23": "Rack Mount Chassis", "25": "Multi-system chassis", "28": "Blade", "29": "Blade Enclosure"}
)

func laptopEvidence(root *os.Root) []string {
	ev := chassisEvidence(laptopChassis)(root)
	matches, _ := fs.Glob(root.FS(), "sys/class/power_supply/BAT*")
	for _, m := range matches {
		ev = append(ev, "battery /"+m)
	}
	return ev
}

// chassisEvidence matches DMI chassis_type against one set of types.
func chassisEvidence(types map[string]string) func(*os.Root) []string {
	return func(root *os.Root) []string {
		t := readTrimmed(root, "sys/class/dmi/id/chassis_type")
		if name, ok := types[t]; ok {
			return []string{fmt.Sprintf("DMI chassis_type %s (%s)", t, name)}
		}
		return nil
	}
}

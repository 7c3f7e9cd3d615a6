package sysinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHostIDIsHashedMachineID: the host id is the prefixed hash, and the raw
// machine-id appears nowhere in the inventory's JSON.
func TestHostIDIsHashedMachineID(t *testing.T) {
	const machineID = "4c4c4544003457108052b4c04f384833"
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/machine-id"), []byte(machineID+"\n"))
	inv := collectRoot(t, root)
	sum := sha256.Sum256([]byte("patchnet host id v1\x00" + machineID))
	if want := hex.EncodeToString(sum[:]); inv.Meta.HostID != want {
		t.Errorf("HostID = %q, want %q", inv.Meta.HostID, want)
	}
	if js := mustJSON(t, inv); strings.Contains(js, machineID) {
		t.Errorf("raw machine-id in the inventory:\n%s", js)
	}
}

func TestHostIDOfThisMachine(t *testing.T) {
	id, err := os.ReadFile("/etc/machine-id")
	if err != nil || strings.TrimSpace(string(id)) == "" {
		t.Skip("this machine has no machine-id")
	}
	inv := collectRoot(t, "/")
	sum := sha256.Sum256([]byte(hostIDPrefix + strings.TrimSpace(string(id))))
	if inv.Meta.HostID != hex.EncodeToString(sum[:]) {
		t.Errorf("HostID = %q, not the hash of /etc/machine-id", inv.Meta.HostID)
	}
}

func TestDetectKind(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		kind     string
		evidence []string
	}{
		{"docker", map[string]string{".dockerenv": ""}, KindContainer, []string{"/.dockerenv exists (Docker)"}},
		{"podman on a laptop", map[string]string{"run/.containerenv": "", "sys/class/dmi/id/chassis_type": "10\n"},
			KindContainer, []string{"/run/.containerenv exists (Podman)"}},
		{"kubernetes cgroup v1", map[string]string{"proc/1/cgroup": "12:pids:/kubepods/besteffort/pod1/abc\n"},
			KindContainer, []string{`/proc/1/cgroup mentions "kubepods"`}},
		{"systemd-nspawn", map[string]string{"run/systemd/container": "systemd-nspawn\n"},
			KindContainer, []string{`/run/systemd/container says "systemd-nspawn"`}},
		{"kvm", map[string]string{"sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)\n",
			"sys/class/dmi/id/sys_vendor": "QEMU\n", "sys/class/dmi/id/chassis_type": "1\n"},
			KindVM, []string{`DMI sys_vendor is "QEMU"`}},
		{"hyper-v", map[string]string{"sys/class/dmi/id/product_name": "Virtual Machine\n",
			"sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n"},
			KindVM, []string{`DMI product_name is "Virtual Machine"`}},
		{"cpu flag", map[string]string{"proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor lahf_lm\n\nprocessor\t: 1\n"},
			KindVM, []string{"/proc/cpuinfo has the hypervisor flag"}},
		{"notebook", map[string]string{"sys/class/dmi/id/chassis_type": "10\n", "sys/class/power_supply/BAT0/type": "Battery\n"},
			KindLaptop, []string{"DMI chassis_type 10 (Notebook)", "battery /sys/class/power_supply/BAT0"}},
		{"battery only", map[string]string{"sys/class/power_supply/BAT1/type": "Battery\n"},
			KindLaptop, []string{"battery /sys/class/power_supply/BAT1"}},
		{"tower", map[string]string{"sys/class/dmi/id/chassis_type": "7\n"}, KindWorkstation, []string{"DMI chassis_type 7 (Tower)"}},
		{"rack", map[string]string{"sys/class/dmi/id/chassis_type": "23\n"}, KindServer, []string{"DMI chassis_type 23 (Rack Mount Chassis)"}},
		{"nothing", map[string]string{"proc/self/comm": "init\n", "sys/class/net/lo/type": "772\n"},
			KindServer, []string{"no container, virtual machine, laptop or desktop evidence"}},
		{"image", map[string]string{"etc/os-release": "ID=debian\n"},
			KindUnknown, []string{"no /proc or /sys under the root: an image, not a running host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, filepath.Join(root, name), []byte(content))
			}
			inv := collectRoot(t, root)
			if diff := cmp.Diff([]any{tc.kind, tc.evidence}, []any{inv.Meta.Kind, inv.Meta.KindEvidence}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostnameFromImage(t *testing.T) {
	inv := collectFixture(t, "alpine-3.20")
	if inv.Meta.Hostname != "alpine-fixture" {
		t.Errorf("Hostname = %q, want the image's /etc/hostname", inv.Meta.Hostname)
	}
}

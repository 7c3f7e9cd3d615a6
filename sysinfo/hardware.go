package sysinfo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
	"golang.org/x/sys/unix"
)

// collectHardware reads processor and memory from root's /proc and /sys
// through gopsutil. A root without /proc (an image, a fixture) has no
// hardware to report: that is absence, not an error.
func collectHardware(ctx context.Context, root *os.Root) (Hardware, error) {
	if !exists(root, "proc/cpuinfo") {
		return Hardware{}, nil
	}
	ctx = context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: filepath.Join(root.Name(), "proc"),
		common.HostSysEnvKey:  filepath.Join(root.Name(), "sys"),
	})
	hw := Hardware{Architecture: architecture(root)}
	infos, err := cpu.InfoWithContext(ctx)
	if err != nil {
		return hw, fmt.Errorf("reading /proc/cpuinfo: %w", err)
	}
	if len(infos) > 0 {
		first := infos[0]
		hw.CPUModel, hw.CPUVendor = first.ModelName, first.VendorID
		hw.MHz, hw.CacheKB = first.Mhz, int(first.CacheSize)
	}
	hw.LogicalCores = len(infos)
	hw.PhysicalCores = physicalCores(infos)
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return hw, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	hw.MemoryBytes = vm.Total
	return hw, nil
}

// physicalCores counts distinct (package, core) pairs; cpuinfo without
// topology (some ARM kernels) counts each logical CPU.
func physicalCores(infos []cpu.InfoStat) int {
	seen := map[[2]string]bool{}
	for _, in := range infos {
		if in.CoreID == "" {
			return len(infos)
		}
		seen[[2]string{in.PhysicalID, in.CoreID}] = true
	}
	return len(seen)
}

// architecture is the kernel's machine name (x86_64, aarch64). Root's /proc
// is a procfs of the running kernel, so uname answers when the kernel is too
// old to have /proc/sys/kernel/arch.
func architecture(root *os.Root) string {
	if a := readTrimmed(root, "proc/sys/kernel/arch"); a != "" {
		return a
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Machine[:])
}

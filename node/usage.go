package node

import (
	"runtime"
	"syscall"
	"time"
)

// APIContent is what the node's content service moved, since start, and
// what its block store held at the last prune.
type APIContent struct {
	// ServedBytes are the artifact block bytes served to peers.
	ServedBytes int64 `json:"served_bytes"`
	// Pruned is the last block store prune (blockprune.go); absent
	// before the first.
	Pruned *APIPrune `json:"pruned,omitempty"`
}

// APIPrune is one prune of the block store.
type APIPrune struct {
	At         time.Time `json:"at"`
	Artifacts  int       `json:"artifacts"`   // current artifacts kept
	Blocks     int       `json:"blocks"`      // blocks held after it
	Bytes      int64     `json:"bytes"`       // their bytes
	Removed    int       `json:"removed"`     // blocks it deleted
	FreedBytes int64     `json:"freed_bytes"` // their bytes
}

// APIProcess is the node process's resource use, since start: what a
// harness that cannot see the process (a pod) reports as its memory and
// CPU.
type APIProcess struct {
	// PeakRSSBytes is the process's peak resident set (getrusage's
	// ru_maxrss; /proc/PID/status VmHWM on Linux). 0 where unknown.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// CPUSeconds is the user and system CPU time the process used.
	CPUSeconds float64 `json:"cpu_s"`
}

// ServedBytes is how many artifact block bytes the node served to peers
// since it started.
func (n *Node) ServedBytes() int64 {
	if n.content == nil {
		return 0
	}
	return n.content.Served()
}

// processUsage reads this process's peak resident set and CPU time.
func processUsage() APIProcess {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return APIProcess{}
	}
	peak := int64(ru.Maxrss)
	if runtime.GOOS != "darwin" { // kilobytes, except on macOS (bytes)
		peak <<= 10
	}
	return APIProcess{PeakRSSBytes: peak, CPUSeconds: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()}
}

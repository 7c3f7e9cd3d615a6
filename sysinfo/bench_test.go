package sysinfo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCollect takes the whole five-category inventory of this machine.
// Compare with BenchmarkDpkgQueryBaseline, run in the same go test -bench.
// Besides wall time it reports cpu-ns/op (user+system CPU of this process),
// which stays meaningful when other work shares the machine.
func BenchmarkCollect(b *testing.B) {
	ctx := context.Background()
	start := cpuTime(syscall.RUSAGE_SELF)
	for b.Loop() {
		inv, err := Collect(ctx, Options{Root: "/"})
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Software) == 0 {
			b.Fatal("no software found")
		}
	}
	b.ReportMetric(float64(cpuTime(syscall.RUSAGE_SELF)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDpkgQueryBaseline is the baseline: dpkg listing its packages,
// `dpkg-query -W`, as a subprocess, output read and discarded. cpu-ns/op
// counts the child's CPU and this process's (fork, exec, reading).
func BenchmarkDpkgQueryBaseline(b *testing.B) {
	path, err := exec.LookPath("dpkg-query")
	if err != nil {
		b.Skip("dpkg-query not installed")
	}
	start := cpuTime(syscall.RUSAGE_SELF) + cpuTime(syscall.RUSAGE_CHILDREN)
	for b.Loop() {
		out, err := exec.Command(path, "-W").Output()
		if err != nil || len(out) == 0 {
			b.Fatalf("dpkg-query -W: %v", err)
		}
	}
	end := cpuTime(syscall.RUSAGE_SELF) + cpuTime(syscall.RUSAGE_CHILDREN)
	b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user+system CPU time of who (RUSAGE_SELF or the waited-for
// RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParseDpkgStatus parses the committed copy of a real dpkg status
// file (hundreds of packages) from memory: the parser alone, no I/O.
func BenchmarkParseDpkgStatus(b *testing.B) {
	data, err := os.ReadFile("testdata/roots/debian-12/var/lib/dpkg/status")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseDpkgStatus(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

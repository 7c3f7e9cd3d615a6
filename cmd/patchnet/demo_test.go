package main

import (
	"os/exec"
	"strings"
	"testing"
)

func TestDemoCommand(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	keep := t.TempDir()
	out, err := runCommand(t, newDemoCmd(), "--agents", "3", "--supernodes", "2", "--threshold", "2", "--keep", keep)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"co-signed 2/2  accepted 3/3  fetched 3/3  installed 3/3",
		"all 3 agents installed hello-patchnet 2.0-1",
		"installed: n=3 p50",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "agent-") {
			rows++
			if !strings.HasSuffix(strings.TrimSpace(line), "2.0-1") {
				t.Errorf("agent row without 2.0-1 from dpkg-query: %q", line)
			}
		}
	}
	if rows != 3 {
		t.Errorf("%d agent rows in the table, want 3:\n%s", rows, out)
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--agents", "0"},
		{"--threshold", "4", "--supernodes", "3"},
		{"--timeout", "0s"},
	} {
		_, err := runCommand(t, newDemoCmd(), args...)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("demo %v: error %v, want one naming %s", args, err, args[0])
		}
	}
}

func TestDemoTimeoutNamesLaggards(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	out, err := runCommand(t, newDemoCmd(), "--agents", "2", "--supernodes", "1", "--threshold", "1", "--timeout", "1ms")
	if err == nil || !strings.Contains(err.Error(), "agent-01, agent-02") {
		t.Fatalf("demo with a 1ms timeout: %v, want an error naming both agents\n%s", err, out)
	}
	if !strings.Contains(out, "timed out after 1ms") {
		t.Errorf("output does not say it timed out:\n%s", out)
	}
}

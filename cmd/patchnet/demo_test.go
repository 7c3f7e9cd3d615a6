package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// needDpkg skips a test where the demo cannot run: it installs with dpkg.
func needDpkg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
}

// TestDemoCommand runs the demo (the sim propagation scenario with real
// installers) on a small zone: the narration, the sim's report, and in
// every kept sandbox what only a real dpkg install leaves — the package's
// files unpacked and dpkg's file list, beside the status dpkg-query reads.
func TestDemoCommand(t *testing.T) {
	needDpkg(t)
	keep := t.TempDir()
	out, err := runCommand(t, newDemoCmd(), "--agents", "3", "--supernodes", "2", "--threshold", "2", "--latency", "5ms", "--keep", keep)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`zone up in \d+ ms: 1 publisher, 2 supernodes, 3 agents on a simulated network`),
		regexp.MustCompile(`published PNT-SIM-0001: hello-patchnet 2\.0-1 \(\d+ bytes`),
		regexp.MustCompile(`co-signed 2/2  accepted 3/3  fetched 3/3  installed 3/3`),
		regexp.MustCompile(`scenario propagation in sim mode over quic: 3 agents, 2 supernodes, k=2`),
		regexp.MustCompile(`(?m)^install +100\.0% `),
		regexp.MustCompile(`(?m)^all_installed +ok`),
		regexp.MustCompile(`all 3 agents installed hello-patchnet 2\.0-1`),
	} {
		if !want.MatchString(out) {
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
	for _, agent := range []string{"agent-01", "agent-02", "agent-03"} {
		root := filepath.Join(keep, "nodes", agent, "root")
		q, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"),
			"-W", "-f=${Status} ${Version}", "hello-patchnet").CombinedOutput()
		if err != nil || string(q) != "install ok installed 2.0-1" {
			t.Errorf("%s: dpkg-query says %q (%v), want install ok installed 2.0-1", agent, q, err)
		}
		// A recording installer writes the status stanza alone: the files
		// and dpkg's list of them are dpkg's doing.
		greeting, err := os.ReadFile(filepath.Join(root, "usr/share/hello-patchnet/greeting"))
		if err != nil || string(greeting) != "hello from 2.0-1\n" {
			t.Errorf("%s: greeting %q (%v), want the one 2.0-1 installs", agent, greeting, err)
		}
		list, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/hello-patchnet.list"))
		if err != nil || !strings.Contains(string(list), "/usr/share/hello-patchnet/greeting") {
			t.Errorf("%s: dpkg's file list %q (%v) does not name the greeting", agent, list, err)
		}
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--agents", "0"},
		{"--supernodes", "33"},
		{"--threshold", "4", "--supernodes", "3"},
		{"--latency", "-1s"},
		{"--timeout", "0s"},
	} {
		_, err := runCommand(t, newDemoCmd(), args...)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("demo %v: error %v, want one naming %s", args, err, args[0])
		}
	}
}

// TestDemoTimeoutNamesLaggards: a timeout that ends the run before any
// agent could install fails the demo, naming every agent dpkg-query finds
// without 2.0-1. The zone's set-up is not bound by --timeout.
func TestDemoTimeoutNamesLaggards(t *testing.T) {
	needDpkg(t)
	out, err := runCommand(t, newDemoCmd(), "--agents", "2", "--supernodes", "1", "--threshold", "1", "--timeout", "1ms")
	if err == nil || !strings.Contains(err.Error(), "agent-01, agent-02") {
		t.Fatalf("demo with a 1ms timeout: %v, want an error naming both agents\n%s", err, out)
	}
	if !strings.Contains(out, "timed out after 1ms") {
		t.Errorf("output does not say it timed out:\n%s", out)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/sysinfo"
)

// runPatchnet runs the command tree with args and returns its output.
func runPatchnet(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newSysinfoCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

const alpineRoot = "../../sysinfo/testdata/roots/alpine-3.20"

func TestSysinfoTable(t *testing.T) {
	out, err := runPatchnet(t, "--root", alpineRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"META", "HARDWARE", "OPERATING SYSTEM", "SOFTWARE", "SERVICES",
		"Hostname   alpine-fixture",
		"OSV ecosystem  Alpine:v3.20",
		"14 packages: 14 apk",
		"libcrypto3              3.3.2-r0     x86_64  openssl",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestSysinfoJSON(t *testing.T) {
	out, err := runPatchnet(t, "--root", alpineRoot, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var inv sysinfo.Inventory
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if inv.Schema != sysinfo.SchemaVersion || len(inv.Software) != 14 || inv.OS.Ecosystem != "Alpine:v3.20" {
		t.Errorf("inventory: schema %q, %d packages, ecosystem %q", inv.Schema, len(inv.Software), inv.OS.Ecosystem)
	}
	if !strings.Contains(out, "<ncopa@alpinelinux.org>") {
		t.Errorf("maintainer addresses escaped in JSON output")
	}
}

func TestSysinfoXML(t *testing.T) {
	out, err := runPatchnet(t, "--root", alpineRoot, "--format", "xml")
	if err != nil {
		t.Fatal(err)
	}
	var inv sysinfo.Inventory
	if err := xml.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("output is not XML: %v\n%s", err, out)
	}
	if len(inv.Software) != 14 || inv.Software[7].SourceName != "openssl" {
		t.Errorf("XML inventory: %d packages", len(inv.Software))
	}
}

func TestSysinfoRedact(t *testing.T) {
	for _, format := range []string{"table", "json", "xml"} {
		out, err := runPatchnet(t, "--root", alpineRoot, "--format", format, "--redact")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "alpine-fixture") {
			t.Errorf("--redact --format %s shows the hostname:\n%s", format, out)
		}
	}
}

func TestSysinfoBadFormat(t *testing.T) {
	_, err := runPatchnet(t, "--format", "yaml")
	if err == nil || !strings.Contains(err.Error(), `--format "yaml"`) {
		t.Errorf("err = %v", err)
	}
}

// TestSysinfoReportsCollectorErrors: a failed collector is printed and
// makes the command fail, while the rest of the inventory is printed.
func TestSysinfoReportsCollectorErrors(t *testing.T) {
	out, err := runPatchnet(t, "--root", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "1 collector(s) failed") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(out, "ERRORS") || !strings.Contains(out, "no os-release") || !strings.Contains(out, "META") {
		t.Errorf("output:\n%s", out)
	}
}

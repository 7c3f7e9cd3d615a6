package sysinfo

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// TestFixtureRoots takes the inventory of every fixture root: each has its
// distribution, its package manager's packages with package URLs, and no
// collector errors (a root without /proc has no hardware: absence).
func TestFixtureRoots(t *testing.T) {
	for _, tc := range []struct {
		root, ecosystem, manager string
		min                      int
		purl                     string // the purl of the first package
	}{
		{"debian-12", "Debian:12", ManagerDpkg, 100, "pkg:deb/debian/"},
		{"distroless-debian-12", "Debian:12", ManagerDpkg, 5, "pkg:deb/debian/base-files@"},
		{"alpine-3.20", "Alpine:v3.20", ManagerApk, 14, "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3"},
		{"rocky-9", "Rocky Linux:9", ManagerRPM, 3, "pkg:rpm/rocky/mailfix-libs@"},
		{"rhel-8", "Red Hat:enterprise_linux:8", ManagerRPM, 1, "pkg:rpm/redhat/libuuid@2.32.1-42.el8_8?arch=x86_64&distro=rhel-8.8"},
		{"sles-15", "SUSE:Linux Enterprise Server 15 SP3", ManagerRPM, 35, "pkg:rpm/sles/system-user-root@20190513-3.3.1?arch=noarch&distro=sles-15.3"},
	} {
		t.Run(tc.root, func(t *testing.T) {
			inv := collectFixture(t, tc.root)
			if len(inv.Errors) != 0 {
				t.Errorf("errors: %+v", inv.Errors)
			}
			if inv.OS.Ecosystem != tc.ecosystem {
				t.Errorf("ecosystem %q, want %q", inv.OS.Ecosystem, tc.ecosystem)
			}
			if len(inv.Software) < tc.min {
				t.Fatalf("%d packages, want at least %d", len(inv.Software), tc.min)
			}
			for _, p := range inv.Software {
				if p.Manager != tc.manager || p.Name == "" || p.Version == "" || p.SourceName == "" || !strings.HasPrefix(p.PURL, "pkg:") {
					t.Fatalf("incomplete package %+v", p)
				}
			}
			if !strings.HasPrefix(inv.Software[0].PURL, tc.purl) {
				t.Errorf("first purl %q, want prefix %q", inv.Software[0].PURL, tc.purl)
			}
			if inv.Hardware != (Hardware{}) || len(inv.Services) != 0 || inv.OS.Kernel != "" {
				t.Errorf("an image root has live facts: %+v %+v kernel %q", inv.Hardware, inv.Services, inv.OS.Kernel)
			}
		})
	}
}

// TestThisMachine checks the live categories that fixtures cannot have.
func TestThisMachine(t *testing.T) {
	if _, err := os.Stat("/proc/cpuinfo"); err != nil {
		t.Skip("no /proc")
	}
	inv := collectRoot(t, "/")
	if len(inv.Errors) != 0 {
		t.Errorf("errors: %+v", inv.Errors)
	}
	hw := inv.Hardware
	if hw.Architecture == "" || hw.LogicalCores < 1 || hw.PhysicalCores < 1 || hw.MemoryBytes == 0 || hw.CPUModel == "" {
		t.Errorf("hardware incomplete: %+v", hw)
	}
	if inv.OS.Kernel == "" || inv.Meta.Hostname == "" || inv.Meta.Kind == "" || len(inv.Meta.KindEvidence) == 0 {
		t.Errorf("meta or kernel incomplete: %+v %+v", inv.Meta, inv.OS)
	}
	if _, err := os.Stat("/.dockerenv"); err == nil && inv.Meta.Kind != KindContainer {
		t.Errorf("kind %q in a Docker container", inv.Meta.Kind)
	}
}

// TestPackagesOnly takes what matching needs, the OS and the packages,
// exactly as the whole inventory has them, and none of the host's other
// facts (on this machine, whose hardware and kind a whole inventory has).
func TestPackagesOnly(t *testing.T) {
	var roots []string
	if _, err := os.Stat("/proc/cpuinfo"); err == nil {
		roots = append(roots, "/")
	}
	for _, name := range []string{"debian-12", "alpine-3.20", "rocky-9"} {
		roots = append(roots, filepath.Join("testdata", "roots", name))
	}
	for _, root := range roots {
		t.Run(filepath.Base(root), func(t *testing.T) {
			full := collectRoot(t, root)
			pkgs, err := Collect(context.Background(), Options{Root: root, PackagesOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(full.OS, pkgs.OS); diff != "" {
				t.Errorf("OS differs (-whole +packages only):\n%s", diff)
			}
			if diff := cmp.Diff(full.Software, pkgs.Software); diff != "" {
				t.Errorf("software differs (-whole +packages only):\n%s", diff)
			}
			if pkgs.Hardware != (Hardware{}) || len(pkgs.Services) != 0 || pkgs.Meta.Kind != "" || pkgs.Meta.Hostname != "" {
				t.Errorf("packages only took more: hardware %+v, %d services, meta %+v", pkgs.Hardware, len(pkgs.Services), pkgs.Meta)
			}
			if root == "/" && (full.Hardware == (Hardware{}) || full.Meta.Kind == "") {
				t.Errorf("the whole inventory of this machine has no hardware or kind: %+v %+v", full.Hardware, full.Meta)
			}
		})
	}
}

// TestGoldenJSON pins the JSON schema: field names and layout of the
// inventory of two fixture roots. A deliberate change reruns with -update.
func TestGoldenJSON(t *testing.T) {
	for _, root := range []string{"alpine-3.20", "rocky-9"} {
		t.Run(root, func(t *testing.T) {
			inv, err := Collect(context.Background(), Options{Root: filepath.Join("testdata/roots", root), AgentVersion: "v0.0.0-test"})
			if err != nil {
				t.Fatal(err)
			}
			inv.Meta.CollectedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			got := mustJSON(t, inv)
			golden := filepath.Join("testdata/golden", root+".json")
			if *update {
				writeFile(t, golden, []byte(got))
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("JSON differs from %s (-golden +got):\n%s", golden, diff)
			}
		})
	}
}

func TestJSONEmptyListsAreArrays(t *testing.T) {
	js := mustJSON(t, collectRoot(t, t.TempDir()))
	for _, key := range []string{`"software": []`, `"services": []`, `"kind_evidence": [`} {
		if !strings.Contains(js, key) {
			t.Errorf("JSON lacks %s:\n%s", key, js)
		}
	}
}

// TestXMLOneElementPerCategory checks the XML layout and that it decodes
// back to the same inventory.
func TestXMLOneElementPerCategory(t *testing.T) {
	inv := collectFixture(t, "rocky-9")
	b, err := xml.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		XMLName  xml.Name
		Schema   string                       `xml:"schema,attr"`
		Children []struct{ XMLName xml.Name } `xml:",any"`
	}
	if err := xml.Unmarshal(b, &shape); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range shape.Children {
		names = append(names, c.XMLName.Local)
	}
	want := []string{"meta", "hardware", "os", "software", "services", "errors"}
	if diff := cmp.Diff(want, names); diff != "" || shape.XMLName.Local != "inventory" || shape.Schema != SchemaVersion {
		t.Errorf("root <%s schema=%q>, children (-want +got):\n%s", shape.XMLName.Local, shape.Schema, diff)
	}
	var back Inventory
	if err := xml.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, &back, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Inventory{}, "XMLName")); diff != "" {
		t.Errorf("XML round trip (-before +after):\n%s", diff)
	}
}

func TestRedacted(t *testing.T) {
	listenLoopback(t)
	inv := collectRoot(t, "/")
	red := inv.Redacted()
	js := mustJSON(t, red)
	for _, secret := range []string{`"hostname":`, `"host_id":`, `"address":`, `"127.0.0.1"`, inv.Meta.HostID} {
		if secret != "" && strings.Contains(js, secret) {
			t.Errorf("redacted JSON contains %s", secret)
		}
	}
	if !red.Meta.Redacted || len(red.Services) != len(inv.Services) || len(red.Software) != len(inv.Software) {
		t.Errorf("redaction lost more than identifying data")
	}
	if inv.Meta.Hostname == "" || inv.Services[0].Address == "" {
		t.Errorf("Redacted changed the original")
	}
}

// listenLoopback opens a listener so this machine has a service address.
func listenLoopback(t *testing.T) {
	t.Helper()
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

func TestCollectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Collect(ctx, Options{Root: "/"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Collect with a cancelled context: %v", err)
	}
}

func TestCollectMissingRoot(t *testing.T) {
	_, err := Collect(context.Background(), Options{Root: filepath.Join(t.TempDir(), "nope")})
	if err == nil || !strings.Contains(err.Error(), "opening root") {
		t.Errorf("Collect of a missing root: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// TestRootSymlinksCannotEscape: an image whose files are symlinks to
// absolute paths must not make Collect read the host's files there.
func TestRootSymlinksCannotEscape(t *testing.T) {
	outside, err := filepath.Abs("testdata/roots/rocky-9")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for link, target := range map[string]string{
		"etc/os-release":       filepath.Join(outside, "etc/os-release"),
		"var/lib/rpm":          filepath.Join(outside, "var/lib/rpm"),
		"lib/apk/db/installed": filepath.Join(outside, "etc/os-release"),
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	inv := collectRoot(t, root)
	if len(inv.Software) != 0 || inv.OS.ID != "" {
		t.Errorf("read through escaping symlinks: OS %q, %d packages", inv.OS.ID, len(inv.Software))
	}
	var collectors []string
	for _, e := range inv.Errors {
		collectors = append(collectors, e.Collector)
		if !strings.Contains(e.Error, "escapes") {
			t.Errorf("%s error does not say the path escapes the root: %s", e.Collector, e.Error)
		}
	}
	if diff := cmp.Diff([]string{CollectorOS, CollectorRPM, CollectorApk}, collectors); diff != "" {
		t.Errorf("collectors with errors (-want +got):\n%s", diff)
	}
}

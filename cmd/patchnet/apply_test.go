package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// applyWorld is a zone PKI, a Debian sandbox root with pn-hello 1.0
// installed by patchnet, a state directory and a pinned root file.
type applyWorld struct {
	pki                    *trusttest.PKI
	publisher, sn1, sn2    *trusttest.Member
	root, state, rootsFile string
	crls                   string // the zone CA's and the root's CRL files, comma separated
	debs                   map[string]string
}

const applyZone = "lab"

func newApplyWorld(t *testing.T) *applyWorld {
	t.Helper()
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	pki := trusttest.NewPKIWithClock(t, trusttest.NewFakeClock(time.Now()), applyZone)
	w := &applyWorld{pki: pki, root: t.TempDir(), state: t.TempDir(), debs: map[string]string{},
		publisher: pki.Issue(t, applyZone, trust.RolePublisher),
		sn1:       pki.Issue(t, applyZone, trust.RoleSupernode),
		sn2:       pki.Issue(t, applyZone, trust.RoleSupernode)}
	w.rootsFile = filepath.Join(t.TempDir(), "root.crt")
	writeTestFile(t, w.rootsFile, string(trust.EncodeCertificatesPEM(pki.Roots...)))
	zoneCRL, rootCRL := filepath.Join(t.TempDir(), "zone.crl"), filepath.Join(t.TempDir(), "root.crl")
	writeTestFile(t, zoneCRL, string(trust.EncodeCRLPEM(pki.CRL(t, applyZone))))
	writeTestFile(t, rootCRL, string(trust.EncodeCRLPEM(pki.RootCRL(t))))
	w.crls = zoneCRL + "," + rootCRL
	writeTestFile(t, filepath.Join(w.root, "etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\nNAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n")
	for _, d := range []string{"info", "updates", "triggers"} {
		os.MkdirAll(filepath.Join(w.root, "var/lib/dpkg", d), 0o755)
	}
	writeTestFile(t, filepath.Join(w.root, "var/lib/dpkg/status"), "")
	for _, v := range []string{"1.0", "2.0"} {
		w.debs[v] = buildTestDeb(t, "pn-hello", v)
	}
	w.installV1(t)
	return w
}

// installV1 installs pn-hello 1.0 through patchnet's installer, as an
// earlier update would have, so its .deb is kept for rollback.
func (w *applyWorld) installV1(t *testing.T) {
	t.Helper()
	cfg := install.DefaultConfig(w.state)
	cfg.Root = w.root
	m, _, err := install.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b, _ := os.ReadFile(w.debs["1.0"])
	art, err := m.VerifyArtifact(w.debs["1.0"], install.Expect{Name: filepath.Base(w.debs["1.0"]), Size: int64(len(b)), SHA256: sha256.Sum256(b)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.InstallVerified(context.Background(), art, install.Plan{Method: "dpkg", AnnouncementID: "PNT-2026-0000", AnnouncementVersion: 1}); err != nil {
		t.Fatal(err)
	}
}

// announcement describes pn-hello fixed in 2.0, with the 2.0 .deb as its
// artifact.
func (w *applyWorld) announcement(t *testing.T, version uint64, cats ...updates.Category) *updates.Announcement {
	t.Helper()
	b, err := os.ReadFile(w.debs["2.0"])
	if err != nil {
		t.Fatal(err)
	}
	now := w.pki.Clock.Now().UTC().Truncate(time.Second)
	if len(cats) == 0 {
		cats = []updates.Category{updates.CategorySecurity}
	}
	return &updates.Announcement{
		SchemaVersion: updates.OSVSchemaVersion, ID: "PNT-2026-0001", Modified: now, Published: now,
		Summary: "pn-hello: fix greeting", Upstream: []string{"CVE-2026-12345"},
		Affected: []updates.Affected{{
			Package: updates.Package{Ecosystem: "Debian:12", Name: "pn-hello"},
			Ranges:  []updates.Range{{Type: updates.RangeEcosystem, Events: []updates.Event{{Introduced: "0"}, {Fixed: "2.0"}}}},
		}},
		Patchnet: updates.Patchnet{Version: version, Categories: cats, Expires: now.Add(24 * time.Hour),
			Artifact: &updates.Artifact{Name: filepath.Base(w.debs["2.0"]), Size: int64(len(b)), SHA256: sha256.Sum256(b), Method: updates.MethodDpkg}},
	}
}

// envelope signs a with the given members and writes it to a file.
func (w *applyWorld) envelope(t *testing.T, a *updates.Announcement, signers ...*trusttest.Member) string {
	t.Helper()
	payload, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) == 0 {
		signers = []*trusttest.Member{w.publisher, w.sn1, w.sn2}
	}
	path := filepath.Join(t.TempDir(), "update.dsse")
	writeTestFile(t, path, string(trusttest.Envelope(t, updates.PayloadType, payload, signers...)))
	return path
}

// apply runs the apply command with the world's flags plus extra.
func (w *applyWorld) apply(t *testing.T, envelope string, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{envelope, "--root", w.rootsFile, "--crl", w.crls, "--zone", applyZone, "--threshold", "2",
		"--sysroot", w.root, "--state", w.state, "--artifact", w.debs["2.0"]}, extra...)
	return runCommand(t, newApplyCmd(), args...)
}

// runCommand executes a fresh command and returns its output.
func runCommand(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// version is what dpkg says is installed, and the installed file.
func (w *applyWorld) version(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(w.root, "var/lib/dpkg"), "--show", "--showformat=${Version}", "pn-hello").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-query: %v: %s", err, out)
	}
	msg, _ := os.ReadFile(filepath.Join(w.root, "opt/pn-hello/msg"))
	return fmt.Sprintf("%s/%s", out, strings.TrimSpace(string(msg)))
}

func TestApplyEndToEnd(t *testing.T) {
	w := newApplyWorld(t)
	out, err := w.apply(t, w.envelope(t, w.announcement(t, 1)))
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	for _, want := range []string{"accepted PNT-2026-0001 version 1", "2 supernode(s)", "< fixed 2.0", "respond: apply", "committed", "installed pn-hello 2.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if got := w.version(t); got != "2.0/hello 2.0" {
		t.Fatalf("after apply: %s", got)
	}
	txs := w.historyJSON(t)
	tx := txs[len(txs)-1]
	if tx.Plan.AnnouncementID != "PNT-2026-0001" || tx.State != install.StateCommitted || tx.Before.Version != "1.0" {
		t.Fatalf("journal: %+v", tx)
	}
	table, err := runCommand(t, newHistoryCmd(), "--state", w.state)
	if err != nil || !strings.Contains(table, tx.ID) || !strings.Contains(table, "pn-hello 1.0 → 2.0") {
		t.Fatalf("history table (%v):\n%s", err, table)
	}
	again, err := w.apply(t, w.envelope(t, w.announcement(t, 1)))
	if err != nil || !strings.Contains(again, "pn-hello 2.0 >= fixed 2.0") || !strings.Contains(again, "does not apply") {
		t.Errorf("re-applying the same update: %v\n%s", err, again)
	}
	out, err = runCommand(t, newRollbackCmd(), tx.ID, "--state", w.state)
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if got := w.version(t); got != "1.0/hello 1.0" {
		t.Fatalf("after rollback: %s", got)
	}
	table, _ = runCommand(t, newHistoryCmd(), "--state", w.state)
	if !strings.Contains(table, "rolled back by") || !strings.Contains(table, "undoes "+tx.ID) {
		t.Errorf("history after rollback:\n%s", table)
	}
}

// historyJSON runs history --format json.
func (w *applyWorld) historyJSON(t *testing.T) []*install.Transaction {
	t.Helper()
	out, err := runCommand(t, newHistoryCmd(), "--state", w.state, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var txs []*install.Transaction
	if err := json.Unmarshal([]byte(out), &txs); err != nil {
		t.Fatalf("history json: %v\n%s", err, out)
	}
	return txs
}

func TestApplyRejectsWrongSoftware(t *testing.T) {
	w := newApplyWorld(t)
	evil := filepath.Join(t.TempDir(), filepath.Base(w.debs["2.0"]))
	writeTestFile(t, evil, "not the announced package")
	out, err := w.apply(t, w.envelope(t, w.announcement(t, 1)), "--artifact", evil)
	if !errors.Is(err, trust.ErrDigestMismatch) {
		t.Fatalf("apply of a wrong artifact: %v\n%s", err, out)
	}
	if got := w.version(t); got != "1.0/hello 1.0" {
		t.Errorf("host changed: %s", got)
	}
	if txs := w.historyJSON(t); len(txs) != 1 {
		t.Errorf("journal has %d transactions, want only the setup's", len(txs))
	}
}

func TestApplyRefusals(t *testing.T) {
	w := newApplyWorld(t)
	// Accept version 2 first, so version 1 is a rollback.
	if out, err := w.apply(t, w.envelope(t, w.announcement(t, 2)), "--mode", "log"); err != nil {
		t.Fatalf("accepting version 2: %v\n%s", err, out)
	}
	expired := w.announcement(t, 3)
	expired.Modified = expired.Modified.Add(-72 * time.Hour)
	expired.Published = expired.Modified
	expired.Patchnet.Expires = expired.Modified.Add(time.Hour)
	cases := []struct {
		name     string
		envelope string
		want     error
	}{
		{"too few co-signers", w.envelope(t, w.announcement(t, 5), w.publisher, w.sn1), trust.ErrInsufficientSigners},
		{"one supernode signing twice", w.envelope(t, w.announcement(t, 5), w.publisher, w.sn1, w.sn1), trust.ErrInsufficientSigners},
		{"no publisher", w.envelope(t, w.announcement(t, 5), w.sn1, w.sn2), trust.ErrInsufficientSigners},
		{"rollback to an older version", w.envelope(t, w.announcement(t, 1)), trust.ErrRollback},
		{"accepted payload re-sent with too few co-signers", w.envelope(t, w.announcement(t, 2), w.publisher, w.sn1), trust.ErrInsufficientSigners},
		{"indefinite freeze (expired)", w.envelope(t, expired), trust.ErrExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := w.apply(t, c.envelope)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v\n%s", err, c.want, out)
			}
			if got := w.version(t); got != "1.0/hello 1.0" {
				t.Errorf("host changed: %s", got)
			}
		})
	}
}

// An announcement nobody signed is named as such, with the command that
// signs it; anything else that is no envelope is still malformed.
func TestApplyNamesUnsignedAnnouncement(t *testing.T) {
	w := newApplyWorld(t)
	payload, err := w.announcement(t, 1).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(t.TempDir(), "ann.json")
	writeTestFile(t, bare, string(payload))
	other := filepath.Join(t.TempDir(), "other.json")
	writeTestFile(t, other, `{"hello": "world"}`)
	tests := []struct {
		name, file, want string
	}{
		{"announcement", bare, "this is an announcement, not a signed envelope: sign it with `patchnet update sign`"},
		{"other JSON", other, "empty payloadType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := w.apply(t, tt.file)
			if !errors.Is(err, trust.ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("apply %s: %v, want an error saying %q\n%s", tt.file, err, tt.want, out)
			}
		})
	}
}

func TestApplyRespectsRespondModeAndMatch(t *testing.T) {
	w := newApplyWorld(t)
	out, err := w.apply(t, w.envelope(t, w.announcement(t, 1, updates.CategoryBugfix)))
	if err != nil || !strings.Contains(out, "respond: notify") || !strings.Contains(out, "not installing") {
		t.Errorf("a bugfix under the default policy: %v\n%s", err, out)
	}
	other := w.announcement(t, 2)
	other.Affected[0].Package.Name = "pn-not-installed"
	out, err = w.apply(t, w.envelope(t, other))
	if err != nil || !strings.Contains(out, "does not apply") {
		t.Errorf("an update for a package the host lacks: %v\n%s", err, out)
	}
	if got := w.version(t); got != "1.0/hello 1.0" {
		t.Errorf("host changed: %s", got)
	}
}

// A sysroot whose packages cannot be known fails the match rather than
// reporting that the update does not apply.
func TestApplyRefusesSysrootWithoutPackageDatabase(t *testing.T) {
	w := newApplyWorld(t)
	empty := t.TempDir()
	corrupt := t.TempDir()
	writeTestFile(t, filepath.Join(corrupt, "var/lib/dpkg/status"), "this is not a status file\n")
	tests := []struct {
		name, sysroot, want string
	}{
		{"empty", empty, "the sysroot holds no package database (dpkg status"},
		{"unreadable dpkg status", corrupt, "reading its dpkg packages: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := w.apply(t, w.envelope(t, w.announcement(t, 1)), "--sysroot", tt.sysroot)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.sysroot) {
				t.Errorf("apply with --sysroot %s: %v, want an error naming it and saying %q\n%s", tt.sysroot, err, tt.want, out)
			}
			if strings.Contains(out, "nothing installed") {
				t.Errorf("apply reports the update does not apply:\n%s", out)
			}
		})
	}
}

func TestApplyConfigFile(t *testing.T) {
	w := newApplyWorld(t)
	cfg := filepath.Join(t.TempDir(), "apply.toml")
	crls := strings.Split(w.crls, ",")
	writeTestFile(t, cfg, fmt.Sprintf("state = %q\nsysroot = %q\nroots = [%q]\ncrl = [%q, %q]\nzone = %q\nthreshold = 2\n[respond]\ndefault = \"notify\"\ntime_zone = \"UTC\"\n[respond.categories]\nenhancement = \"apply\"\n",
		w.state, w.root, w.rootsFile, crls[0], crls[1], applyZone))
	out, err := runCommand(t, newApplyCmd(), w.envelope(t, w.announcement(t, 1, updates.CategoryEnhancement)), "--config", cfg, "--artifact", w.debs["2.0"])
	if err != nil || w.version(t) != "2.0/hello 2.0" {
		t.Fatalf("apply from a config file: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	writeTestFile(t, bad, "treshold = 2\n")
	_, err = runCommand(t, newApplyCmd(), "x", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), "treshold") {
		t.Errorf("a misspelt key: %v", err)
	}
}

// apply's and the node commands' config files report a mistake with its
// file, line and column.
func TestConfigFileErrorsNameLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patchnet.toml")
	writeTestFile(t, path, "zone = \"lab\"\nthreshold = 2\n\n[respond]\ndefault = notify\n")
	want := "config " + path + " line 5 column 11: "
	for _, cmd := range []*cobra.Command{newApplyCmd(), newAgentCmd(), newSupernodeCmd()} {
		args := []string{"--config", path}
		if cmd.Name() == "apply" {
			args = append([]string{"update.dsse"}, args...)
		}
		if _, err := runCommand(t, cmd, args...); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s --config with a syntax error on line 5: %v, want an error starting %q", cmd.Name(), err, want)
		}
	}
}

func TestApplyPinTools(t *testing.T) {
	out, err := runCommand(t, newApplyCmd(), "--pin-tools")
	if err != nil || !strings.Contains(out, "[tool_pins]") {
		t.Fatalf("--pin-tools: %v\n%s", err, out)
	}
	sh, _ := exec.LookPath("sh")
	sum, _ := os.ReadFile(sh)
	if !strings.Contains(out, fmt.Sprintf("%x", sha256.Sum256(sum))) {
		t.Errorf("pins lack sh's digest:\n%s", out)
	}
}

// buildTestDeb builds a real .deb with dpkg-deb.
func buildTestDeb(t *testing.T, name, version string) string {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "tree/DEBIAN/control"), fmt.Sprintf(
		"Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: patchnet tests <t@patchnet.invalid>\nDescription: test\n", name, version))
	writeTestFile(t, filepath.Join(dir, "tree/opt", name, "msg"), "hello "+version+"\n")
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", name, version))
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", filepath.Join(dir, "tree"), out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	return out
}

// writeTestFile writes content, creating directories.
func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestApplyArchiveOnce(t *testing.T) {
	w := newApplyWorld(t)
	tarball := filepath.Join(t.TempDir(), "app-1.tar.gz")
	if b, err := exec.Command("tar", "-czf", tarball, "-C", filepath.Dir(w.rootsFile), "root.crt").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(tarball)
	a := w.announcement(t, 1)
	a.ID, a.Affected = "PNT-2026-0100", nil // for every host of the zone
	a.Patchnet.Artifact = &updates.Artifact{Name: filepath.Base(tarball), Size: int64(len(b)), SHA256: sha256.Sum256(b), Method: updates.MethodArchive}
	env := w.envelope(t, a)
	out, err := w.apply(t, env, "--artifact", tarball, "--prefix", "/opt/app")
	if err != nil {
		t.Fatalf("apply archive: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(w.root, "opt/app/root.crt")); err != nil {
		t.Fatalf("archive not unpacked: %v\n%s", err, out)
	}
	out, err = w.apply(t, env, "--artifact", tarball, "--prefix", "/opt/app")
	if err != nil || !strings.Contains(out, "already installed by transaction") {
		t.Errorf("second apply of the same archive update: %v\n%s", err, out)
	}
}

func TestApplyRefusesTamperedInstaller(t *testing.T) {
	w := newApplyWorld(t)
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not installed")
	}
	dpkg, _ = filepath.Abs(dpkg)
	cfg := filepath.Join(t.TempDir(), "apply.toml")
	writeTestFile(t, cfg, fmt.Sprintf("require_tool_pins = true\n[tool_pins]\n%q = %q\n", dpkg, strings.Repeat("0", 64)))
	out, err := w.apply(t, w.envelope(t, w.announcement(t, 1)), "--config", cfg)
	var tampered *install.TamperedToolError
	if !errors.As(err, &tampered) || !strings.Contains(out, "ALERT tampered-tool") {
		t.Fatalf("apply with a wrong pin: %v\n%s", err, out)
	}
	if got := w.version(t); got != "1.0/hello 1.0" {
		t.Errorf("host changed: %s", got)
	}
}

// Without --artifact, apply downloads the artifact from the announcement's
// URLs with a progress line, and still refuses bytes that are not the
// announced ones (a malicious mirror listed first is skipped for the next).
func TestApplyFetchesFromAnnouncedURLs(t *testing.T) {
	w := newApplyWorld(t)
	good, err := os.ReadFile(w.debs["2.0"])
	if err != nil {
		t.Fatal(err)
	}
	var evilHits, goodHits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		evilHits.Add(1)
		rw.Write(bytes.Repeat([]byte{'x'}, len(good)))
	}))
	defer evil.Close()
	vendor := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		goodHits.Add(1)
		http.ServeContent(rw, r, "pkg.deb", time.Time{}, bytes.NewReader(good))
	}))
	defer vendor.Close()

	onlyEvil := w.announcement(t, 1)
	onlyEvil.Patchnet.Artifact.URLs = []string{evil.URL + "/pkg.deb"}
	out, err := runCommand(t, newApplyCmd(), w.envelope(t, onlyEvil), "--root", w.rootsFile, "--crl", w.crls, "--zone", applyZone,
		"--threshold", "2", "--sysroot", w.root, "--state", w.state)
	if !errors.Is(err, trust.ErrDigestMismatch) {
		t.Fatalf("apply from a malicious mirror: %v\n%s", err, out)
	}
	if got := w.version(t); got != "1.0/hello 1.0" {
		t.Fatalf("host changed by a malicious mirror: %s", got)
	}

	both := w.announcement(t, 2)
	both.Patchnet.Artifact.URLs = []string{evil.URL + "/pkg.deb", vendor.URL + "/pkg.deb"}
	out, err = runCommand(t, newApplyCmd(), w.envelope(t, both), "--root", w.rootsFile, "--crl", w.crls, "--zone", applyZone,
		"--threshold", "2", "--sysroot", w.root, "--state", w.state)
	if err != nil {
		t.Fatalf("apply from URLs: %v\n%s", err, out)
	}
	if !strings.Contains(out, "100%") {
		t.Errorf("no progress line in the output:\n%s", out)
	}
	if got := w.version(t); got != "2.0/hello 2.0" {
		t.Errorf("after apply from URLs: %s", got)
	}
	if evilHits.Load() < 2 || goodHits.Load() == 0 {
		t.Errorf("requests: %d to the malicious mirror, %d to the vendor", evilHits.Load(), goodHits.Load())
	}
}

// TestApplyRejectsRollbackOfSeenVersion: an envelope accepted before is
// accepted again only while it is the highest version, so an attacker who
// kept an old signed announcement cannot replay it after a newer one.
func TestApplyRejectsRollbackOfSeenVersion(t *testing.T) {
	w := newApplyWorld(t)
	v1, v2 := w.envelope(t, w.announcement(t, 1)), w.envelope(t, w.announcement(t, 2))
	for _, env := range []string{v1, v2} {
		if out, err := w.apply(t, env, "--mode", "log"); err != nil {
			t.Fatalf("accepting: %v\n%s", err, out)
		}
	}
	out, err := w.apply(t, v1)
	if !errors.Is(err, trust.ErrRollback) {
		t.Fatalf("replaying version 1 after version 2: %v, want ErrRollback\n%s", err, out)
	}
	if !strings.Contains(err.Error(), "version 1") || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("error %q does not name both versions", err)
	}
	if got := w.version(t); got != "1.0/hello 1.0" {
		t.Errorf("host changed by the replay: %s", got)
	}
	if out, err := w.apply(t, v2); err != nil || w.version(t) != "2.0/hello 2.0" {
		t.Errorf("re-applying the highest version: %v\n%s", err, out)
	}
}

// An archive install that fails restores the previous tree, and every path
// the failure names (its step line and the error) exists: the previous
// tree is back at the prefix, not at the name it would have been kept
// under had the swap gone through.
func TestApplyArchiveFailureNamesExistingPaths(t *testing.T) {
	w := newApplyWorld(t)
	archiveUpdate := func(version uint64, path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a := w.announcement(t, version)
		a.ID, a.Affected = "PNT-2026-0101", nil // for every host of the zone
		a.Patchnet.Artifact = &updates.Artifact{Name: filepath.Base(path), Size: int64(len(b)), SHA256: sha256.Sum256(b), Method: updates.MethodArchive}
		return w.envelope(t, a)
	}
	good := filepath.Join(t.TempDir(), "app-1.tar.gz")
	if b, err := exec.Command("tar", "-czf", good, "-C", filepath.Dir(w.rootsFile), "root.crt").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	if out, err := w.apply(t, archiveUpdate(1, good), "--artifact", good, "--prefix", "/opt/app"); err != nil {
		t.Fatalf("apply archive: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "app-2.tar.gz")
	writeTestFile(t, bad, "not an archive")
	out, err := w.apply(t, archiveUpdate(2, bad), "--artifact", bad, "--prefix", "/opt/app")
	if err == nil || !strings.Contains(out, "] failed: ") {
		t.Fatalf("apply of a broken archive: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(w.root, "opt/app/root.crt")); err != nil {
		t.Fatalf("the previous tree is not back at the prefix: %v\n%s", err, out)
	}
	var failure []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "] failed: ") {
			failure = append(failure, line)
		}
	}
	named := 0
	for _, word := range strings.Fields(strings.Join(append(failure, err.Error()), " ")) {
		if path := strings.TrimRight(word, ".,:;)"); strings.HasPrefix(path, w.root) {
			named++
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the failure names %s, which does not exist: %v\n%s", path, err, out)
			}
		}
	}
	if named == 0 {
		t.Errorf("the failure names no path of the sysroot:\n%s", out)
	}
}

// An apply whose install fails records nothing: the host's rollback floor
// is not raised by an update it never got, so an earlier version still
// installs afterwards.
func TestFailedApplyRecordsNothing(t *testing.T) {
	w := newApplyWorld(t)
	wrong := filepath.Join(t.TempDir(), "wrong.deb")
	writeTestFile(t, wrong, "not the package the announcement names")
	if out, err := w.apply(t, w.envelope(t, w.announcement(t, 2)), "--artifact", wrong); err == nil {
		t.Fatalf("apply of a wrong artifact succeeded:\n%s", out)
	}
	if out, err := w.apply(t, w.envelope(t, w.announcement(t, 1))); err != nil {
		t.Fatalf("version 1 after a failed apply of version 2: %v\n%s", err, out)
	}
	if got := w.version(t); got != "2.0/hello 2.0" {
		t.Errorf("host has %s after installing version 1's artifact", got)
	}
}

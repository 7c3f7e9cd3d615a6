package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates/install"
	"github.com/patchnet/patchnet/updates/origin"
)

// runInitCmd runs `patchnet init args…` on a fresh command tree and returns
// its standard output and standard error apart.
func runInitCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newInitCmd()
	requireKnownSubcommands(cmd)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// mustInit runs `patchnet init args…` and fails the test on an error.
func mustInit(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := runInitCmd(t, args...)
	if err != nil {
		t.Fatalf("patchnet init %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout, stderr
}

// initZone makes a root, zone "lab" and a node certificate of role in a new
// state directory with the real ca and cert commands; it returns a path
// maker for the files.
func initZone(t *testing.T, role trust.Role) func(parts ...string) string {
	t.Helper()
	dir := t.TempDir()
	p := func(parts ...string) string { return filepath.Join(append([]string{dir}, parts...)...) }
	mustRun(t, "ca", "init-root", "--out", p("root"))
	mustRun(t, "ca", "init-zone", "--root", p("root"), "--zone", "lab", "--out", p("zone"))
	mustRun(t, "cert", "request", "--role", string(role), "--zone", "lab", "--out", p("state"))
	mustRun(t, "ca", "sign", "--ca", p("zone"), p("state", "node.csr"))
	return p
}

// writeVendorKey writes a fresh vendor OpenPGP public key (armored) to path.
func writeVendorKey(t *testing.T, path string) {
	t.Helper()
	e, err := openpgp.NewEntity("patchnet test vendor", "", "vendor@test.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pub.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Each role's file, written with the paths filled in by flags, loads and
// validates as it stands, and the node starts with it: agent and supernode
// through their commands with --config alone, a publisher through node.New.
func TestInitConfigStartsNode(t *testing.T) {
	tests := []struct {
		name  string
		role  trust.Role
		extra func(p func(...string) string) []string
		check func(t *testing.T, p func(...string) string, cfg node.Config)
	}{
		{name: "agent", role: trust.RoleAgent,
			extra: func(p func(...string) string) []string { return []string{"--sysroot", p("sysroot")} },
			check: func(t *testing.T, _ func(...string) string, cfg node.Config) {
				if !cfg.Install.RequireToolPins || !reflect.DeepEqual(cfg.Install.ToolPins, mustPins(t)) {
					t.Errorf("[install] %+v, want require_tool_pins and this host's pins %v", cfg.Install, mustPins(t))
				}
			}},
		{name: "private agent", role: trust.RoleAgent,
			extra: func(p func(...string) string) []string { return []string{"--sysroot", p("sysroot"), "--private"} },
			check: func(t *testing.T, p func(...string) string, cfg node.Config) {
				key := p("state", pskFileName)
				if cfg.Overlay.PrivateZone.PSKFile != key {
					t.Errorf("psk_file %q, want %q", cfg.Overlay.PrivateZone.PSKFile, key)
				}
				if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, mode %v, want 0600", key, err, fi.Mode())
				}
				if psk, err := cfg.Overlay.PrivateZone.Key(); err != nil || len(psk) != 32 {
					t.Errorf("pre-shared key: %d bytes, %v", len(psk), err)
				}
			}},
		{name: "supernode", role: trust.RoleSupernode,
			extra: func(p func(...string) string) []string {
				return []string{"--vendor-origin", "https://deb.example.org/pool/", "--vendor-key", p("vendor.asc")}
			},
			check: func(t *testing.T, p func(...string) string, cfg node.Config) {
				want := map[string]origin.Policy{"*": {Origins: []string{"https://deb.example.org/pool/"}, Keys: []string{p("vendor.asc")}}}
				if !reflect.DeepEqual(cfg.CoSign.Publishers, want) {
					t.Errorf("cosign.publishers %+v, want %+v", cfg.CoSign.Publishers, want)
				}
			}},
		{name: "supernode without a policy", role: trust.RoleSupernode},
		{name: "publisher", role: trust.RolePublisher},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := initZone(t, tt.role)
			if err := os.MkdirAll(p("sysroot"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeVendorKey(t, p("vendor.asc"))
			file := p(string(tt.role) + ".toml")
			args := []string{string(tt.role), "--out", file, "--state", p("state"), "--zone", "lab",
				"--root", p("root", "root.crt"), "--crl", p("zone", "zone.crl"), "--crl", p("root", "root.crl"),
				"--listen", "/ip4/127.0.0.1/tcp/0"}
			if tt.extra != nil {
				args = append(args, tt.extra(p)...)
			}
			stdout, stderr := mustInit(t, args...)
			if !strings.Contains(stdout, "wrote "+string(tt.role)+" config "+file) || strings.Contains(stdout, "fill in") || stderr != "" {
				t.Errorf("stdout %q, stderr %q: want only what was written", stdout, stderr)
			}
			cfg, err := node.LoadConfig(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tt.check != nil {
				tt.check(t, p, cfg)
			}
			if tt.role == trust.RolePublisher {
				n, err := node.New(context.Background(), cfg)
				if err != nil {
					t.Fatalf("starting a publisher: %v", err)
				}
				defer n.Close()
				if !n.IsPublisher() || len(n.Overlay().Addrs()) == 0 {
					t.Errorf("publisher %v listening on %v", n.IsPublisher(), n.Overlay().Addrs())
				}
				return
			}
			out, err := runNodeCmdUntilListening(t, tt.role, "--config", file)
			if err != nil || !strings.Contains(out, string(tt.role)+" 12D3KooW") || !strings.Contains(out, "of zone lab") {
				t.Errorf("%s --config %s: %v\n%s", tt.role, file, err, out)
			}
		})
	}
}

func mustPins(t *testing.T) map[string]string {
	t.Helper()
	pins, err := install.PinTools(install.Tools{})
	if err != nil {
		t.Fatal(err)
	}
	return pins
}

// With --sysroot, the sysroot's own /bin/sh, which update scripts run
// chrooted into it, is pinned beside this host's installers.
func TestInitAgentPinsSysrootShell(t *testing.T) {
	sysroot := t.TempDir()
	if err := os.MkdirAll(filepath.Join(sysroot, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	shell := []byte("#!/not/really/a/shell\n")
	if err := os.WriteFile(filepath.Join(sysroot, "bin", "sh"), shell, 0o755); err != nil {
		t.Fatal(err)
	}
	out, _ := mustInit(t, "agent", "--sysroot", sysroot, "--zone", "lab", "--root", "root.crt")
	cfg, err := node.DecodeConfig([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(shell)
	if got := cfg.Install.ToolPins[filepath.Join(sysroot, "bin", "sh")]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("pin of the sysroot's /bin/sh %q, want %x\n%v", got, sum, cfg.Install.ToolPins)
	}
	if cfg.Sysroot != sysroot {
		t.Errorf("sysroot %q, want %q", cfg.Sysroot, sysroot)
	}
}

// Without --root and --zone the file still decodes; the command names
// what to fill in on standard error, keeping standard output the file, and
// the file's opening comment lists them too.
func TestInitNamesKeysToFill(t *testing.T) {
	out, errOut := mustInit(t, "publisher")
	for _, key := range []string{"roots", "zone"} {
		if !strings.Contains(errOut, "fill in "+key) || !strings.Contains(out, "#   "+key+": ") {
			t.Errorf("%s not named:\nstderr %s\nstdout %s", key, errOut, out)
		}
	}
	cfg, err := node.DecodeConfig([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "roots is required") {
		t.Errorf("Validate: %v, want roots required", err)
	}
	if cfg.State != defaultInitState || cfg.Key != filepath.Join(defaultInitState, "node.key") {
		t.Errorf("state %q key %q, want %s and its node.key", cfg.State, cfg.Key, defaultInitState)
	}
}

// Relative paths become absolute, so the file works from any directory.
func TestInitMakesPathsAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeVendorKey(t, "vendor.asc")
	out, _ := mustInit(t, "supernode", "--state", "st", "--root", "root.crt", "--crl", "zone.crl", "--zone", "lab",
		"--vendor-origin", "https://deb.example.org/", "--vendor-key", "vendor.asc")
	cfg, err := node.DecodeConfig([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{cfg.State, cfg.Key, cfg.Cert, cfg.Roots[0], cfg.CRL[0], cfg.CoSign.Publishers["*"].Keys[0]} {
		if !filepath.IsAbs(got) || !strings.HasPrefix(got, dir) {
			t.Errorf("%q is not an absolute path under %s", got, dir)
		}
	}
}

// A private zone's file listens on TCP only (QUIC cannot use the key);
// --psk-file joins a zone whose key exists.
func TestInitPrivateZone(t *testing.T) {
	state := t.TempDir()
	out, errOut := mustInit(t, "agent", "--private", "--state", state, "--zone", "lab", "--root", "root.crt")
	if !strings.Contains(errOut, "copy it to every node of the zone") {
		t.Errorf("no word on copying the key:\n%s", errOut)
	}
	cfg, err := node.DecodeConfig([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/ip4/0.0.0.0/tcp/4001"}; !slices.Equal(cfg.Overlay.ListenAddrs, want) {
		t.Errorf("listen_addrs %v, want %v", cfg.Overlay.ListenAddrs, want)
	}
	key, err := os.ReadFile(filepath.Join(state, pskFileName))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^/key/swarm/psk/1\.0\.0/\n/base16/\n[0-9a-f]{64}\n$`).Match(key) {
		t.Errorf("swarm.key %q is not a pnet key file", key)
	}
	out, _ = mustInit(t, "supernode", "--psk-file", filepath.Join(state, pskFileName), "--state", t.TempDir(), "--zone", "lab", "--root", "root.crt")
	cfg, err = node.DecodeConfig([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	k1, err := cfg.Overlay.PrivateZone.Key()
	if err != nil || !bytes.Equal(overlay.EncodePSK(k1), key) || slices.ContainsFunc(cfg.Overlay.ListenAddrs, func(a string) bool { return strings.Contains(a, "quic") }) {
		t.Errorf("--psk-file: key %x (%v), listen %v", k1, err, cfg.Overlay.ListenAddrs)
	}
}

// init refuses what it cannot write well, before writing anything.
func TestInitRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		args  []string
		want  string
	}{
		{"existing --out", func(t *testing.T, dir string) { writeTestFile(t, filepath.Join(dir, "out.toml"), "mine") },
			[]string{"agent", "--out", "out.toml"}, "out.toml exists: refusing to overwrite it (--force overwrites it)"},
		{"existing swarm.key", func(t *testing.T, dir string) { writeTestFile(t, filepath.Join(dir, "st", pskFileName), "theirs") },
			[]string{"agent", "--private", "--state", "st", "--out", "out.toml"}, "swarm.key exists: refusing to overwrite it"},
		{"existing swarm.key with --force", func(t *testing.T, dir string) { writeTestFile(t, filepath.Join(dir, "st", pskFileName), "theirs") },
			[]string{"agent", "--private", "--force", "--state", "st", "--out", "out.toml"}, "swarm.key exists: refusing to overwrite it"},
		{"QUIC in a private zone", nil,
			[]string{"agent", "--private", "--listen", "/ip4/0.0.0.0/udp/4001/quic-v1", "--out", "out.toml"}, "a private zone (pre-shared key) runs over TCP only"},
		{"--private and --psk-file", nil,
			[]string{"agent", "--private", "--psk-file", "swarm.key", "--out", "out.toml"}, "none of the others can be"},
		{"missing --psk-file", nil,
			[]string{"agent", "--psk-file", "nonexistent.key", "--out", "out.toml"}, "nonexistent.key"},
		{"origin without key", nil,
			[]string{"supernode", "--vendor-origin", "https://deb.example.org/", "--out", "out.toml"}, "--vendor-origin and --vendor-key go together"},
		{"missing vendor key", nil,
			[]string{"supernode", "--vendor-origin", "https://deb.example.org/", "--vendor-key", "none.asc", "--out", "out.toml"}, "none.asc"},
		{"bad zone", nil, []string{"publisher", "--zone", "No Spaces", "--out", "out.toml"}, `zone "No Spaces"`},
		{"bad bootstrap", nil, []string{"publisher", "--bootstrap", "/ip4/192.0.2.1/tcp/4001", "--out", "out.toml"}, "bootstrap_peers"},
		{"bad threshold", nil, []string{"agent", "--threshold", "0", "--out", "out.toml"}, "threshold"},
		{"sysroot for a supernode", nil, []string{"supernode", "--sysroot", "/srv", "--out", "out.toml"}, "unknown flag: --sysroot"},
		{"vendor key for an agent", nil, []string{"agent", "--vendor-key", "k.asc", "--out", "out.toml"}, "unknown flag: --vendor-key"},
		{"unknown role", nil, []string{"auditor"}, `unknown command "auditor" for "init"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			before := listTree(t, dir)
			_, _, err := runInitCmd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if after := listTree(t, dir); !reflect.DeepEqual(after, before) {
				t.Errorf("files changed by a refused init:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// listTree maps each file under dir to its content.
func listTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		files[path] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// --force replaces an existing --out, and nothing else does.
func TestInitForceOverwrites(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.toml")
	writeTestFile(t, file, "old")
	mustInit(t, "agent", "--out", file, "--force", "--zone", "lab", "--root", "root.crt")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.DecodeConfig(data); err != nil || !strings.HasPrefix(string(data), "# patchnet agent configuration") {
		t.Errorf("after --force: %v\n%s", err, data)
	}
}

// init and each role document themselves with an example and are on the
// real command tree.
func TestInitHelpHasExamples(t *testing.T) {
	for _, role := range []string{"agent", "supernode", "publisher"} {
		cmd, _, err := rootCmd.Find([]string{"init", role})
		if err != nil || cmd.Name() != role {
			t.Fatalf("patchnet init %s is not registered: %v", role, err)
		}
		if !strings.Contains(cmd.Example, "patchnet init "+role) {
			t.Errorf("patchnet init %s: example does not show the command", role)
		}
		out, _, err := runInitCmd(t, role, "--help")
		if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--out") {
			t.Errorf("patchnet init %s --help: %v\n%s", role, err, out)
		}
	}
}

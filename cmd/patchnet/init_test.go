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
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
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

// configPaths lists the keys and tables of a config struct type by dotted
// TOML path, "*" for a map's keys. It is written apart from init.go's
// configKeyPaths so that a walker bug there cannot hide a key here.
func configPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, prefix+name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, configPaths(ft, prefix+name+".")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, configPaths(ft.Elem(), prefix+name+".*.")...)
		}
	}
	return out
}

// Every key and table of node.Config has a help string, and every help
// string, example and role note names one: a key added to the config
// without help, or help left behind by a removed key, fails here.
func TestInitHelpCoversConfig(t *testing.T) {
	paths := configPaths(reflect.TypeFor[node.Config](), "")
	if len(paths) < 90 {
		t.Fatalf("found %d keys in node.Config, want the ~100 it has: the walker is broken", len(paths))
	}
	got := configKeyPaths(reflect.TypeFor[node.Config](), "")
	for _, p := range paths {
		if !slices.Contains(got, p) {
			t.Errorf("init.go's walker misses %q", p)
		}
	}
	for _, p := range got {
		if !slices.Contains(paths, p) {
			t.Errorf("init.go's walker finds %q, which is no key", p)
		}
	}
	for _, p := range paths {
		if strings.TrimSpace(configHelp[p]) == "" {
			t.Errorf("configHelp has no entry for %q", p)
		}
	}
	for p := range configHelp {
		if !slices.Contains(paths, p) {
			t.Errorf("configHelp entry %q names no key of node.Config", p)
		}
	}
	for p := range configExamples {
		if !slices.Contains(paths, p) {
			t.Errorf("configExamples entry %q names no key of node.Config", p)
		}
	}
	for role, notes := range roleNotes {
		for p := range notes {
			if !slices.Contains(paths, p) {
				t.Errorf("roleNotes[%s] entry %q names no key of node.Config", role, p)
			}
		}
	}
}

// parsedLine is one key line or table header of a written config.
type parsedLine struct {
	path      []string // the table's path, then the key (none for a header)
	header    bool     // a [table] line
	commented bool     // written as "#key = …"
	comment   string   // the prose comment lines right above it
	line      int
}

var (
	headerRE = regexp.MustCompile(`^(#?)\[(.+)\]$`)
	keyRE    = regexp.MustCompile(`^(#?)("[^"]*"|[A-Za-z0-9_-]+) = `)
)

// parseConfigLines finds every table header and key line of data, written
// or commented out, with the prose comment above each.
func parseConfigLines(t *testing.T, data string) []parsedLine {
	t.Helper()
	var out []parsedLine
	var table []string
	var prose []string
	for i, line := range strings.Split(data, "\n") {
		switch {
		case strings.HasPrefix(line, "# ") || line == "#":
			prose = append(prose, strings.TrimPrefix(line, "#"))
			continue
		case line == "":
			continue
		}
		if m := headerRE.FindStringSubmatch(line); m != nil {
			table = splitTOMLPath(t, m[2])
			out = append(out, parsedLine{path: table, header: true, commented: m[1] == "#", comment: strings.Join(prose, " "), line: i + 1})
		} else if m := keyRE.FindStringSubmatch(line); m != nil {
			out = append(out, parsedLine{path: append(slices.Clone(table), strings.Trim(m[2], `"`)), commented: m[1] == "#",
				comment: strings.Join(prose, " "), line: i + 1})
		} else {
			t.Errorf("line %d is neither prose, a header nor a key: %q", i+1, line)
		}
		prose = nil
	}
	return out
}

// splitTOMLPath splits a header's dotted path, keeping quoted keys whole.
func splitTOMLPath(t *testing.T, s string) []string {
	t.Helper()
	var parts []string
	for s != "" {
		if s[0] == '"' {
			end := strings.Index(s[1:], `"`)
			if end < 0 {
				t.Fatalf("unterminated quoted key in %q", s)
			}
			parts = append(parts, s[1:end+1])
			s = strings.TrimPrefix(s[end+2:], ".")
			continue
		}
		part, rest, _ := strings.Cut(s, ".")
		parts = append(parts, part)
		s = rest
	}
	return parts
}

// matchPath reports whether a written line is the config path p ("*"
// matching any map key); a map of tables is there with its first entry's
// header.
func matchPath(l parsedLine, p string, tableMap bool) bool {
	want, written := strings.Split(p, "."), l.path
	if tableMap && l.header && len(written) == len(want)+1 {
		written = written[:len(want)]
	}
	if len(want) != len(written) {
		return false
	}
	for i := range want {
		if want[i] != "*" && want[i] != written[i] {
			return false
		}
	}
	return true
}

// Every key of node.Config is in each role's file — written, or commented
// out where it does not apply — with prose above it that says what it does
// and its default; a publisher's file has no [install], [retention] or
// [cosign].
func TestInitWritesEveryKey(t *testing.T) {
	paths := configPaths(reflect.TypeFor[node.Config](), "")
	for _, role := range []trust.Role{trust.RoleAgent, trust.RoleSupernode, trust.RolePublisher} {
		t.Run(string(role), func(t *testing.T) {
			out, _ := mustInit(t, string(role), "--zone", "lab", "--root", "root.crt", "--state", t.TempDir())
			lines := parseConfigLines(t, out)
			for _, p := range paths {
				forOtherRoles := strings.HasPrefix(p, "install") || strings.HasPrefix(p, "cosign") || strings.HasPrefix(p, "retention")
				tableMap := slices.ContainsFunc(paths, func(q string) bool { return strings.HasPrefix(q, p+".*.") })
				i := slices.IndexFunc(lines, func(l parsedLine) bool { return matchPath(l, p, tableMap) })
				switch {
				case role == trust.RolePublisher && forOtherRoles:
					if i >= 0 {
						t.Errorf("line %d: %s in a publisher's file", lines[i].line, p)
					}
					continue
				case i < 0:
					t.Errorf("%s is not in the file", p)
					continue
				}
				l := lines[i]
				if strings.TrimSpace(l.comment) == "" {
					t.Errorf("line %d: %s has no comment above it", l.line, p)
				}
				leaf := !slices.ContainsFunc(paths, func(q string) bool { return strings.HasPrefix(q, p+".") })
				if leaf && !strings.Contains(l.comment, "Default") && !strings.Contains(l.comment, "Required") {
					t.Errorf("line %d: the comment on %s gives no default: %q", l.line, p, l.comment)
				}
			}
		})
	}
}

// configWithout blanks what a role's file writes only as a comment, and
// makes empty slices and maps nil, so a config compares equal to what its
// file decodes to.
func configWithout(role trust.Role, c node.Config) node.Config {
	c.Overlay.Zone, c.Overlay.Supernode = "", false
	if role != trust.RoleSupernode {
		c.CoSign = node.CoSignConfig{}
	}
	if role != trust.RoleAgent {
		c.Install = node.DefaultConfig().Install
	}
	v := reflect.ValueOf(&c).Elem()
	nilEmpty(v)
	return c
}

// nilEmpty sets every empty slice and map reachable from v to nil.
func nilEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				nilEmpty(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmpty(v.Elem())
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 && v.CanSet() {
			v.SetZero()
			return
		}
		if v.Kind() == reflect.Map && v.Type().Elem().Kind() == reflect.Struct {
			for _, k := range v.MapKeys() {
				e := reflect.New(v.Type().Elem()).Elem()
				e.Set(v.MapIndex(k))
				nilEmpty(e)
				v.SetMapIndex(k, e)
			}
		}
	}
}

// The file renders every value so that it decodes back to the same config,
// whatever the value: defaults, optional tables set, maps of tables with
// several entries, strings TOML must escape, durations, floats.
func TestRenderConfigRoundTrips(t *testing.T) {
	odd := "/srv/a \"quoted\" \\ path\twith tab and ü"
	full := node.DefaultConfig()
	full.State, full.Key, full.Cert = "/var/lib/pn", odd, "/var/lib/pn/node.crt"
	full.Roots, full.CRL, full.Zone, full.Threshold, full.InMemory = []string{"/r1.crt", "/r2.crt"}, []string{"/z.crl"}, "acme", 3, true
	full.FetchTimeout, full.FetchRetry = node.Duration(90*time.Second), node.Duration(90*time.Minute+3*time.Second)
	full.Install = node.InstallConfig{ToolPins: map[string]string{"/usr/bin/dpkg": "ab", odd: "cd"}, RequireToolPins: false,
		Prefixes: map[string]string{"my app": "/opt/my app", "b": "/opt/b"}}
	full.CoSign.Publishers = map[string]origin.Policy{
		"*":         {Origins: []string{"https://deb.example.org/pool/"}, Keys: []string{"/k.asc"}},
		"12D3KooWx": {Origins: []string{"https://a.example/", "https://b.example/"}, Keys: nil, AllowUnsigned: true},
	}
	full.Overlay.AnnounceAddrs = []string{"/ip4/203.0.113.7/tcp/4001"}
	full.Overlay.Collectives = []string{"web", "db"}
	full.Overlay.PrivateZone.PSKFile = "/etc/patchnet/swarm.key"
	full.Overlay.Score.InvalidMessageWeight = -2.5
	full.Overlay.Sync.Interval = 0
	full.Respond.Zones = map[string]updates.ZoneRespond{"partner": {Default: updates.ModeLog,
		Categories: map[updates.Category]updates.Mode{updates.CategoryBugfix: updates.ModeApply}}}
	full.Respond.MaintenanceWindows = []string{"Mon-Fri 22:00-23:30"}
	smtp, hook := updates.DefaultSMTPConfig(), updates.DefaultWebhookConfig()
	smtp.To, smtp.Password = []string{"a@example.org", "b@example.org"}, `p"w\d`
	hook.URL, hook.Headers = "https://hooks.example.org/x", map[string]string{"Authorization": "Bearer t", "X-A": "1"}
	full.Notify = updates.NotifyConfig{SMTP: &smtp, Webhook: &hook}

	tests := []struct {
		name string
		role trust.Role
		cfg  node.Config
	}{
		{"agent defaults", trust.RoleAgent, node.DefaultConfig()},
		{"supernode defaults", trust.RoleSupernode, node.DefaultConfig()},
		{"publisher defaults", trust.RolePublisher, node.DefaultConfig()},
		{"agent, every table set", trust.RoleAgent, full},
		{"supernode, every table set", trust.RoleSupernode, full},
		{"publisher, every table set", trust.RolePublisher, full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := renderConfig(tt.role, tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := node.DecodeConfig(data)
			if err != nil {
				t.Fatalf("decoding the rendered config: %v\n%s", err, data)
			}
			if want, got := configWithout(tt.role, tt.cfg), configWithout(tt.role, got); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded config differs:\n got %+v\nwant %+v\n%s", got, want, data)
			}
		})
	}
}

// uncommentAll removes the "#" of every commented-out key and header; an
// example that follows the key's own (empty) line replaces that line.
func uncommentAll(data string) string {
	var out []string
	lastKey := ""
	for _, line := range strings.Split(data, "\n") {
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# ") && line != "#" {
			line = line[1:]
			if m := keyRE.FindStringSubmatch(line); m != nil && m[2] == lastKey {
				out = out[:len(out)-1]
			}
		}
		lastKey = ""
		if m := keyRE.FindStringSubmatch(line); m != nil {
			lastKey = m[2]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// Every commented-out line is a real key with a value of its type: the
// file with all of them uncommented still decodes, and the example notify
// channels and respond zone are valid as they stand.
func TestInitCommentedLinesAreKeys(t *testing.T) {
	for _, role := range []trust.Role{trust.RoleAgent, trust.RoleSupernode, trust.RolePublisher} {
		t.Run(string(role), func(t *testing.T) {
			out, _ := mustInit(t, string(role), "--zone", "lab", "--root", "root.crt", "--state", t.TempDir())
			all := uncommentAll(out)
			cfg, err := node.DecodeConfig([]byte(all))
			if err != nil {
				t.Fatalf("uncommented: %v\n%s", err, all)
			}
			if cfg.Notify.SMTP == nil || cfg.Notify.Webhook == nil || len(cfg.Respond.Zones) == 0 {
				t.Errorf("uncommented: no example notify channels or respond zone: %+v %+v", cfg.Notify, cfg.Respond)
			}
			if _, err := cfg.Notify.Notifier(); err != nil {
				t.Errorf("the example notify channels are invalid: %v", err)
			}
			if err := cfg.Respond.Validate(); err != nil {
				t.Errorf("the example respond zone is invalid: %v", err)
			}
		})
	}
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

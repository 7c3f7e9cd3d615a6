package main

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/origin"
)

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

package zonekit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Exec makes a command: exec.CommandContext, or one that runs it inside a
// namespace.
type Exec func(ctx context.Context, name string, args ...string) *exec.Cmd

// Kit sets up one zone's PKI and configs in Dir with the patchnet binary
// Bin. Every node's state is Dir/NAME, its config Dir/NAME.toml.
type Kit struct {
	Bin, Dir, Zone string
	// Threshold is k, the co-signatures agents require.
	Threshold int
}

// Path is a path under the kit's directory.
func (k *Kit) Path(parts ...string) string {
	return filepath.Join(append([]string{k.Dir}, parts...)...)
}

// Run runs a patchnet command that needs no network to completion and
// returns its output.
func (k *Kit) Run(ctx context.Context, args ...string) (string, error) {
	return k.RunWith(ctx, exec.CommandContext, args...)
}

// RunWith is Run with the command made by ex (inside a namespace, say).
func (k *Kit) RunWith(ctx context.Context, ex Exec, args ...string) (string, error) {
	out, err := ex(ctx, k.Bin, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("patchnet %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// PKI makes a root CA, the zone's CA, and a signed certificate for each
// node by name → role (supernode, agent or publisher).
func (k *Kit) PKI(ctx context.Context, roles map[string]string) error {
	steps := [][]string{
		{"ca", "init-root", "--out", k.Path("root")},
		{"ca", "init-zone", "--root", k.Path("root"), "--zone", k.Zone, "--out", k.Path("zone")},
	}
	for name, role := range roles {
		steps = append(steps,
			[]string{"cert", "request", "--role", role, "--zone", k.Zone, "--out", k.Path(name)},
			[]string{"ca", "sign", "--ca", k.Path("zone"), k.Path(name, "node.csr")})
	}
	for _, s := range steps {
		if _, err := k.Run(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// Config writes name's config with `patchnet init role`, listening on
// listen (a multiaddr), with extra flags, and returns its path.
func (k *Kit) Config(ctx context.Context, name, role, listen string, extra ...string) (string, error) {
	path := k.Path(name + ".toml")
	args := []string{"init", role, "--out", path, "--force", "--state", k.Path(name),
		"--root", k.Path("root", "root.crt"), "--crl", k.Path("zone", "zone.crl"), "--crl", k.Path("root", "root.crl"),
		"--zone", k.Zone, "--threshold", fmt.Sprint(k.Threshold), "--listen", listen}
	if _, err := k.Run(ctx, append(args, extra...)...); err != nil {
		return "", err
	}
	return path, nil
}

// Fast are config keys that make a small test zone notice things in
// about a second instead of minutes: heartbeats every interval (an agent
// cut off alarms after max_age), and bootstrap redials every second.
func Fast(interval time.Duration) map[string]string {
	return map[string]string{
		"heartbeat.interval":         fmt.Sprintf("%q", interval),
		"heartbeat.max_age":          fmt.Sprintf("%q", 2*interval),
		"overlay.bootstrap_interval": `"1s"`,
	}
}

// SetKeys sets keys ("table.key" → TOML value) in the config file at
// path, each on the line `key = …` that `patchnet init` wrote in its table
// (or its commented-out example line `#key = …`, which it replaces).
func SetKeys(path string, keys map[string]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	table := ""
	done := map[string]bool{}
	for i, line := range lines {
		if t, ok := strings.CutPrefix(line, "["); ok && strings.HasSuffix(t, "]") {
			table = strings.TrimSuffix(t, "]")
			continue
		}
		key, _, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		key = strings.TrimPrefix(key, "#")
		full := table + "." + key
		if v, ok := keys[full]; ok && !done[full] {
			lines[i] = key + " = " + v
			done[full] = true
		}
	}
	for k := range keys {
		if !done[k] {
			return fmt.Errorf("config %s: no key %s to set", path, k)
		}
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600)
}

// Update is what `patchnet update new` is given.
type Update struct {
	ID, Summary                 string
	Ecosystem, Package, Fixed   string // empty Package: applies to every host
	Artifact, Method, URL, Name string // Name: the artifact's name if not its base name
	Category                    string // security (the default), bugfix, enhancement or announcement
	// RolloutSpread spreads the agents' installs over this long after
	// acceptance (0: none), as `update new --rollout-spread` does.
	RolloutSpread time.Duration
}

// NewUpdate writes u's announcement with `patchnet update new` and returns
// its path.
func (k *Kit) NewUpdate(ctx context.Context, u Update) (string, error) {
	out := k.Path(u.ID + ".json")
	_, err := k.Run(ctx, u.Args(out)...)
	return out, err
}

// Args are the `patchnet update new` arguments writing u to out: the one
// way the test zones (netns, the k8s publisher Job) author a fix.
func (u Update) Args(out string) []string {
	args := []string{"update", "new", "--id", u.ID, "--version", "1", "--artifact", u.Artifact,
		"--method", u.Method, "--url", u.URL, "--out", out}
	if u.Summary != "" {
		args = append(args, "--summary", u.Summary)
	}
	if u.Package != "" {
		args = append(args, "--ecosystem", u.Ecosystem, "--package", u.Package, "--fixed", u.Fixed)
	}
	if u.Category != "" {
		args = append(args, "--category", u.Category)
	}
	if u.Name != "" {
		args = append(args, "--artifact-name", u.Name)
	}
	if u.RolloutSpread > 0 {
		args = append(args, "--rollout-spread", u.RolloutSpread.String())
	}
	return args
}

// Publish publishes the announcement fix with `patchnet publish` from the
// publisher config pubConfig, seeding artifact, and waits up to wait for k
// co-signatures; the command is made by ex (inside the publisher's
// namespace, say). It returns publish's output.
func (k *Kit) Publish(ctx context.Context, ex Exec, fix, artifact, pubConfig string, wait time.Duration) (string, error) {
	return k.RunWith(ctx, ex, "publish", fix, "--artifact", artifact, "--config", pubConfig, "--wait", wait.String())
}

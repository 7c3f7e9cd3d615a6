package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// syncBuffer is a bytes.Buffer safe for the node's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// nodeFiles makes a root, a zone CA "lab" and a node certificate of role in
// state; it returns the root certificate's path.
func nodeFiles(t *testing.T, state string, role trust.Role) string {
	t.Helper()
	dir := t.TempDir()
	rootDir, zoneDir := filepath.Join(dir, "root"), filepath.Join(dir, "zone")
	if _, err := ca.InitRoot(rootDir, ca.DefaultRootOptions()); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.InitZone(rootDir, "lab", zoneDir, ca.DefaultZoneOptions()); err != nil {
		t.Fatal(err)
	}
	_, csr, err := ca.Request(state, ca.RequestOptions{Role: role, Zone: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.SignFile(zoneDir, csr, ca.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(rootDir, ca.RootCertFile)
}

// runNodeCmdUntilListening runs the command until it prints "listening on", then stops it
// through its context and returns its output and error.
func runNodeCmdUntilListening(t *testing.T, role trust.Role, args ...string) (string, error) {
	t.Helper()
	cmd := newAgentCmd()
	if role == trust.RoleSupernode {
		cmd = newSupernodeCmd()
	}
	var out syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			return out.String(), err
		case <-deadline:
			t.Fatalf("no listening line within 30s:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if strings.Contains(out.String(), "listening on /ip4/127.0.0.1/tcp/") {
			cancel()
			return out.String(), <-done
		}
	}
}

func TestAgentCommandRunsUntilStopped(t *testing.T) {
	state := t.TempDir()
	root := nodeFiles(t, state, trust.RoleAgent)
	out, err := runNodeCmdUntilListening(t, trust.RoleAgent, "--state", state, "--root", root, "--zone", "lab",
		"--sysroot", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--require-tool-pins=false")
	if err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	if !strings.Contains(out, "agent 12D3KooW") || !strings.Contains(out, "of zone lab (k=2)") {
		t.Errorf("agent did not introduce itself:\n%s", out)
	}
}

// A node command refuses a certificate without its role, saying which
// certificate to use and, if its roles run a node, which command.
func TestNodeCommandRefusesOtherRole(t *testing.T) {
	for _, tc := range []struct {
		cert, cmd trust.Role
		want      string
	}{
		{trust.RoleAgent, trust.RoleSupernode, "not supernode: use `patchnet agent` or a supernode certificate"},
		{trust.RoleSupernode, trust.RoleAgent, "not agent: use `patchnet supernode` or an agent certificate"},
		{trust.RolePublisher, trust.RoleAgent, "not agent: use an agent certificate"},
	} {
		t.Run(fmt.Sprintf("%s certificate for %s", tc.cert, tc.cmd), func(t *testing.T) {
			state := t.TempDir()
			root := nodeFiles(t, state, tc.cert)
			out, err := runNodeCmdUntilListening(t, tc.cmd, "--state", state, "--root", root, "--zone", "lab",
				"--sysroot", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--require-tool-pins=false")
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Errorf("error %v, want one ending %q\n%s", err, tc.want, out)
			}
		})
	}
}

// A node whose state holds no key says so once, with no prefix repeated.
func TestNodeCommandNamesMissingKeyOnce(t *testing.T) {
	root := nodeFiles(t, t.TempDir(), trust.RoleAgent)
	state := t.TempDir()
	_, err := runCommand(t, newAgentCmd(), "--state", state, "--root", root, "--zone", "lab", "--sysroot", t.TempDir(),
		"--listen", "/ip4/127.0.0.1/tcp/0")
	if err == nil || strings.Count(err.Error(), "loading credentials") != 1 || !strings.Contains(err.Error(), filepath.Join(state, "node.key")) {
		t.Errorf("agent without node.key: %v, want one \"loading credentials\" naming the key file", err)
	}
}

func TestNodeCommandNamesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--zone", "lab"}, "state"},
		{[]string{"--state", "/tmp/x", "--root", "r.crt", "--zone", "no spaces"}, `zone "no spaces"`},
		{[]string{"--config", "/nonexistent/agent.toml"}, "/nonexistent/agent.toml"},
	} {
		_, err := runCommand(t, newAgentCmd(), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("agent %v: %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
}

func TestAgentCommandRefusesForeignZone(t *testing.T) {
	state := t.TempDir()
	root := nodeFiles(t, state, trust.RoleAgent)
	out, err := runNodeCmdUntilListening(t, trust.RoleAgent, "--state", state, "--root", root, "--zone", "other",
		"--sysroot", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--require-tool-pins=false")
	if err == nil || !strings.Contains(err.Error(), `is for zone "lab"`) {
		t.Errorf("agent of zone other with a lab certificate: %v, want an error naming both zones\n%s", err, out)
	}
}

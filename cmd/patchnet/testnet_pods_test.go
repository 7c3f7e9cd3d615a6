package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// prepare copies the node's key 0600 (a group-readable Secret file would
// be refused by the node) and certificate into the state directory, and
// makes an agent's sandbox with the old package installed by dpkg; run
// again, it keeps the sandbox.
func TestTestnetPrepare(t *testing.T) {
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "secret")
	if _, _, err := ca.Request(keyDir, ca.RequestOptions{Role: trust.RoleAgent, Zone: "tn"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(keyDir, ca.NodeCertFile), []byte("chain"), 0o440)
	os.Chmod(filepath.Join(keyDir, ca.NodeKeyFile), 0o440) // as the Secret mounts it
	state, sysroot := filepath.Join(dir, "state"), filepath.Join(dir, "sysroot")
	args := []string{"prepare", "--key-dir", keyDir, "--state", state}
	withDpkg := true
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			withDpkg = false
		}
	}
	if withDpkg {
		debs, err := nodelab.BuildDebs(context.Background(), filepath.Join(dir, "debs"))
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--sysroot", sysroot, "--deb", debs[nodelab.OldVersion])
	}
	for range 2 {
		if out, err := runPodCmd(t, args...); err != nil {
			t.Fatalf("prepare: %v\n%s", err, out)
		}
	}
	if _, err := trust.ReadKeyFile(filepath.Join(state, ca.NodeKeyFile)); err != nil {
		t.Errorf("the node cannot read the copied key: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(state, ca.NodeCertFile)); string(b) != "chain" {
		t.Errorf("certificate copied as %q", b)
	}
	if withDpkg {
		if v, err := nodelab.InstalledVersion(context.Background(), sysroot); err != nil || v != nodelab.OldVersion {
			t.Errorf("sandbox has %q, %v; want %s", v, err, nodelab.OldVersion)
		}
	}
	if _, err := runPodCmd(t, "prepare", "--key-dir", filepath.Join(dir, "none"), "--state", state); err == nil {
		t.Error("prepare without a key succeeded")
	}
}

// runPodCmd runs a fresh pod helper command.
func runPodCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	for _, c := range newTestnetPodCmds() {
		if c.Name() == args[0] {
			var out bytes.Buffer
			c.SetOut(&out)
			c.SetErr(&out)
			c.SetArgs(args[1:])
			err := c.ExecuteContext(context.Background())
			return out.String(), err
		}
	}
	t.Fatalf("no pod command %s", args[0])
	return "", nil
}

// build-fix rebuilds the fix render signed: with render's digest it
// writes the package; with another digest (an image of another build)
// it fails naming both and leaves no package behind.
func TestBuildFixChecksRendersDigest(t *testing.T) {
	want, err := nodelab.WriteFix(t.TempDir(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	sum, _, err := nodelab.DigestFile(want)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	said, err := runPodCmd(t, "build-fix", "--out", out, "--padding", "1000", "--sha256", hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatalf("build-fix: %v: %s", err, said)
	}
	got, err := os.ReadFile(filepath.Join(out, filepath.Base(want)))
	if wantBytes, _ := os.ReadFile(want); err != nil || !bytes.Equal(got, wantBytes) {
		t.Errorf("built %d bytes, %v; want the %d render made", len(got), err, len(wantBytes))
	}
	out = t.TempDir()
	_, err = runPodCmd(t, "build-fix", "--out", out, "--padding", "999", "--sha256", hex.EncodeToString(sum[:]))
	if err == nil || !strings.Contains(err.Error(), hex.EncodeToString(sum[:])) || !strings.Contains(err.Error(), "render signed") {
		t.Errorf("build-fix of other bytes: %v", err)
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Errorf("build-fix left %d files behind a digest mismatch", len(left))
	}
	if _, err := runPodCmd(t, "build-fix", "--out", out, "--padding", "-1", "--sha256", "00"); err == nil || !strings.Contains(err.Error(), "--padding -1") {
		t.Errorf("build-fix --padding -1: %v", err)
	}
}

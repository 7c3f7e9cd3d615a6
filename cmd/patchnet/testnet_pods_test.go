package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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

// The vendor origin serves the mounted files and hides a ConfigMap
// mount's ..data bookkeeping.
func TestServeOriginHidesDotFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "fix.deb"), []byte("deb"), 0o644)
	os.Mkdir(filepath.Join(dir, "..data"), 0o755)
	os.WriteFile(filepath.Join(dir, "..data", "fix.deb"), []byte("deb"), 0o644)
	srv := httptest.NewServer(http.FileServerFS(noDotFiles{os.DirFS(dir)}))
	defer srv.Close()
	for path, want := range map[string]int{"/fix.deb": 200, "/..data/fix.deb": 404, "/.hidden": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && !bytes.Equal(body, []byte("deb"))) {
			t.Errorf("GET %s: %d %q, want %d", path, resp.StatusCode, body, want)
		}
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

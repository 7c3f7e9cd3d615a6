package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/patchnet/patchnet/updates"
)

// The tests drive real gpg, rpmbuild and rpmsign: keys are generated on the
// fly in a temporary GNUPGHOME (no private key is committed), shared by the
// whole test binary and removed by TestMain.

var (
	gpgOnce sync.Once
	gpgHome string
	gpgErr  error
)

// testKey is a key generated for the tests: its user id, primary
// fingerprint and a file with its armored public key.
type testKey struct {
	uid, fpr, pub string
}

// The keys: the vendor's (ed25519, and RSA for rpm's RSA tag) and the
// attacker's.
var (
	vendorKey    = &testKey{uid: "Vendor <vendor@example.invalid>"}
	vendorRSAKey = &testKey{uid: "Vendor RSA <rsa@example.invalid>"}
	attackerKey  = &testKey{uid: "Attacker <attacker@example.invalid>"}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if gpgHome != "" {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+gpgHome)
		cmd.Run()
		os.RemoveAll(gpgHome)
	}
	os.Exit(code)
}

// needTool skips when a tool is missing, saying which.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (the Makefile's APT_DEPS installs it)", name)
	}
}

// keys makes the test keys once.
func keys(t testing.TB) {
	t.Helper()
	needTool(t, "gpg")
	needTool(t, "gpgconf")
	needTool(t, "gpg-agent")
	gpgOnce.Do(func() { gpgErr = makeKeys() })
	if gpgErr != nil {
		t.Fatal(gpgErr)
	}
}

func makeKeys() error {
	dir, err := os.MkdirTemp("", "pn-gpg") // short: gpg-agent's socket path is bounded
	if err != nil {
		return err
	}
	gpgHome = dir
	for _, k := range []struct {
		key  *testKey
		algo string
	}{{vendorKey, "ed25519"}, {vendorRSAKey, "rsa2048"}, {attackerKey, "ed25519"}} {
		if err := makeKey(k.key, k.algo); err != nil {
			return err
		}
	}
	return nil
}

func makeKey(k *testKey, algo string) error {
	if _, err := gpg("--passphrase", "", "--quick-gen-key", k.uid, algo, "sign", "never"); err != nil {
		return err
	}
	out, err := gpg("--with-colons", "--list-keys", k.uid)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && k.fpr == "" {
			k.fpr = f[9]
		}
	}
	pub, err := gpg("--armor", "--export", k.fpr)
	if err != nil {
		return err
	}
	k.pub = filepath.Join(gpgHome, k.fpr+".asc")
	return os.WriteFile(k.pub, []byte(pub), 0o644)
}

// gpg runs gpg in batch mode on the test home.
func gpg(args ...string) (string, error) {
	cmd := exec.Command("gpg", append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+gpgHome)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return "", fmt.Errorf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out), nil
}

// sign makes a detached signature of file with k: binary, or armored.
func sign(t testing.TB, k *testKey, file string, armor bool) []byte {
	t.Helper()
	if armor {
		return signWith(t, k, file, "--armor")
	}
	return signWith(t, k, file)
}

// signWith makes a detached signature of file with k and extra gpg
// options.
func signWith(t testing.TB, k *testKey, file string, extra ...string) []byte {
	t.Helper()
	keys(t)
	args := append([]string{"--local-user", k.fpr, "--detach-sign", "--output", "-"}, extra...)
	out, err := gpg(append(args, file)...)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(out)
}

// newKeys numbers the keys newKey makes, so each user id is new also when
// a test runs again (-count).
var newKeys atomic.Int64

// newKey makes one more key for a single test.
func newKey(t testing.TB, name string) *testKey {
	t.Helper()
	keys(t)
	k := &testKey{uid: fmt.Sprintf("%s %d <test@example.invalid>", name, newKeys.Add(1))}
	if err := makeKey(k, "ed25519"); err != nil {
		t.Fatal(err)
	}
	return k
}

// revoke revokes k with the revocation certificate gpg made with it and
// re-exports its public key with the revocation: what a vendor publishes
// after a key compromise.
func revoke(t testing.TB, k *testKey) {
	t.Helper()
	cert, err := os.ReadFile(filepath.Join(gpgHome, "openpgp-revocs.d", k.fpr+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	rev := writeTemp(t, "key.rev", []byte(strings.Replace(string(cert), ":-----BEGIN", "-----BEGIN", 1)))
	if _, err := gpg("--import", rev); err != nil {
		t.Fatal(err)
	}
	pub, err := gpg("--armor", "--export", k.fpr)
	if err != nil {
		t.Fatal(err)
	}
	k.pub = writeTemp(t, "revoked.asc", []byte(pub))
}

// writeTemp writes content to a new file and returns its path.
func writeTemp(t testing.TB, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// buildRPM builds a real noarch rpm with rpmbuild.
func buildRPM(t testing.TB, name, version string) []byte {
	t.Helper()
	needTool(t, "rpmbuild")
	top := t.TempDir()
	spec := fmt.Sprintf("Name: %s\nVersion: %s\nRelease: 1\nSummary: patchnet test\nLicense: MIT\nBuildArch: noarch\n"+
		"%%description\npatchnet test package\n%%install\nmkdir -p %%{buildroot}/opt/%s\n"+
		"printf 'hello from %s' > %%{buildroot}/opt/%s/greeting\n%%files\n/opt/%s/greeting\n",
		name, version, name, version, name, name)
	specPath := filepath.Join(top, name+".spec")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "rpmbuild", "--define", "_topdir "+top, "--define", "_build_id_links none", "-bb", specPath)
	b, err := os.ReadFile(filepath.Join(top, "RPMS", "noarch", fmt.Sprintf("%s-%s-1.noarch.rpm", name, version)))
	if err != nil {
		t.Fatalf("rpmbuild did not write the package: %v", err)
	}
	return b
}

// signRPM signs a copy of an rpm with rpmsign --addsign (header signature;
// with v3 also the header+payload one) and returns it.
func signRPM(t testing.TB, rpm []byte, k *testKey, v3 bool) []byte {
	t.Helper()
	keys(t)
	needTool(t, "rpmsign")
	gpgPath, err := exec.LookPath("gpg")
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "signed.rpm", rpm)
	args := []string{"--define", "__gpg " + gpgPath, "--define", "_gpg_name " + k.fpr, "--define", "_gpg_path " + gpgHome, "--addsign", path}
	if v3 {
		args = append([]string{"--rpmv3"}, args...)
	}
	run(t, "rpmsign", args...)
	if sigs := run(t, "rpm", "-qp", "--qf", "%{RSAHEADER:pgpsig}%{DSAHEADER:pgpsig}", path); !strings.Contains(sigs, "Key ID") {
		t.Fatalf("rpmsign left %s unsigned: %q", path, sigs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rpmChecksig is rpm's own verdict on an rpm, with k's public key imported:
// true when digests and signatures are OK.
func rpmChecksig(t testing.TB, rpm []byte, k *testKey) bool {
	t.Helper()
	needTool(t, "rpmkeys")
	db := t.TempDir()
	run(t, "rpmkeys", "--dbpath", db, "--import", k.pub)
	err := exec.Command("rpmkeys", "--dbpath", db, "--checksig", writeTemp(t, "check.rpm", rpm)).Run()
	return err == nil
}

// run runs a command and fails the test with its output.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+gpgHome)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// server is a loopback HTTP server of fixed files that counts requests.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	handlers map[string]http.HandlerFunc
	requests atomic.Int64
}

func newServer(t testing.TB) *server {
	t.Helper()
	s := &server{files: map[string][]byte{}, handlers: map[string]http.HandlerFunc{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	body, ok := s.files[r.URL.Path]
	h := s.handlers[r.URL.Path]
	s.mu.Unlock()
	switch {
	case h != nil:
		h(w, r)
	case ok:
		w.Write(body)
	default:
		http.NotFound(w, r)
	}
}

// put serves content at path and returns its URL.
func (s *server) put(path string, content []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = content
	return s.URL + path
}

// handle serves path with h.
func (s *server) handle(path string, h http.HandlerFunc) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
	return s.URL + path
}

// artifact describes content as announced, fetched from urls.
func artifact(name string, content []byte, method updates.Method, urls ...string) *updates.Artifact {
	return &updates.Artifact{Name: name, Size: int64(len(content)), SHA256: sha256.Sum256(content), URLs: urls, Method: method}
}

// policy is a policy over the given origins pinning the given keys.
func policy(t testing.TB, require bool, origins []string, ks ...*testKey) Policy {
	t.Helper()
	if len(ks) > 0 {
		keys(t)
	}
	p := Policy{Origins: origins, AllowUnsigned: !require}
	for _, k := range ks {
		p.Keys = append(p.Keys, k.pub)
	}
	return p
}

// check runs Check into a fresh directory.
func check(t testing.TB, p Policy, art *updates.Artifact) (*Report, error) {
	t.Helper()
	return Check(context.Background(), p, art, t.TempDir())
}

// bytesReaderAt reads from b.
func bytesReaderAt(b []byte) *bytes.Reader { return bytes.NewReader(b) }

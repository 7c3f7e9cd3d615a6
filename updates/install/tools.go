package install

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// Tools are the installer binaries by absolute path. An empty field is
// looked up in PATH when the installer that needs it is first used.
type Tools struct {
	Dpkg       string `toml:"dpkg"`        // runs installs and removals
	DpkgDeb    string `toml:"dpkg_deb"`    // reads a .deb's control fields
	DpkgQuery  string `toml:"dpkg_query"`  // reads what is installed
	DpkgRepack string `toml:"dpkg_repack"` // optional: rebuilds a .deb patchnet did not keep
	RPM        string `toml:"rpm"`         // installs, queries and reads rpm files
	Apk        string `toml:"apk"`         // installs and queries apk packages
	Shell      string `toml:"shell"`       // runs update scripts
}

// all maps each Tools field to the program name found in PATH.
func (t Tools) all() map[string]*string {
	return map[string]*string{
		"dpkg": &t.Dpkg, "dpkg-deb": &t.DpkgDeb, "dpkg-query": &t.DpkgQuery,
		"dpkg-repack": &t.DpkgRepack, "rpm": &t.RPM, "apk": &t.Apk, "sh": &t.Shell,
	}
}

// resolve returns the absolute path of the tool called name: the configured
// path, else the PATH entry.
func (t Tools) resolve(name string) (string, error) {
	p, ok := t.all()[name]
	if !ok {
		return "", fmt.Errorf("unknown tool %q", name)
	}
	path := *p
	if path == "" {
		found, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("finding %s: %w", name, err)
		}
		path = found
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", name, err)
	}
	return abs, nil
}

// PinTools computes the SHA-256 of each installer binary that can be found
// (configured or in PATH), keyed by absolute path, for the tool_pins table
// of the configuration. Symbolic links are pinned by the path given, and
// hashed through to the file they name, which is what runs.
func PinTools(t Tools) (map[string]string, error) {
	pins := map[string]string{}
	names := make([]string, 0, len(t.all()))
	for name := range t.all() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path, err := t.resolve(name)
		if err != nil {
			continue // not installed here: nothing to pin
		}
		sum, err := fileDigest(path)
		if err != nil {
			return nil, fmt.Errorf("pinning %s: %w", path, err)
		}
		pins[path] = sum
	}
	return pins, nil
}

// ToolUse records one installer binary a transaction ran, with the digest it
// had when it was checked.
type ToolUse struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Pinned bool   `json:"pinned"`
}

// TamperedToolError says an installer binary does not match its pin. It
// matches errors.Is(err, trust.ErrUntrusted).
type TamperedToolError struct {
	Path     string
	Expected string
	Actual   string
}

// Error names the binary and both digests.
func (e *TamperedToolError) Error() string {
	return fmt.Sprintf("installer binary %s has sha256 %s, pinned %s: refusing to run a tampered installer",
		e.Path, e.Actual, e.Expected)
}

// Is makes the error a trust failure.
func (e *TamperedToolError) Is(target error) bool { return target == trust.ErrUntrusted }

// UnpinnedToolError says RequireToolPins is set and a binary has no pin.
type UnpinnedToolError struct{ Path, Actual string }

// Error names the binary and its current digest, ready to pin.
func (e *UnpinnedToolError) Error() string {
	return fmt.Sprintf("installer binary %s (sha256 %s) has no pin in tool_pins and require_tool_pins is set", e.Path, e.Actual)
}

// Is makes the error a trust failure.
func (e *UnpinnedToolError) Is(target error) bool { return target == trust.ErrUntrusted }

// Alert is something an operator must look at: a tampered installer, a
// recovery that could not restore either version.
type Alert struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// Alert kinds.
const (
	AlertTamperedTool   = "tampered-tool"
	AlertUnpinnedTool   = "unpinned-tool"
	AlertRecoveryFailed = "recovery-failed"
	AlertStateUnknown   = "state-unknown"
)

// checkTool hashes the binary at path and compares it with its pin.
func checkTool(path string, pins map[string]string, require bool) (ToolUse, error) {
	sum, err := fileDigest(path)
	if err != nil {
		return ToolUse{}, fmt.Errorf("checking installer binary: %w", err)
	}
	return checkPin(path, sum, pins, require)
}

// checkPin compares the digest of the binary at path with its pin.
func checkPin(path, sum string, pins map[string]string, require bool) (ToolUse, error) {
	use := ToolUse{Path: path, SHA256: sum}
	want, ok := pins[path]
	if !ok {
		if require {
			return use, &UnpinnedToolError{Path: path, Actual: sum}
		}
		return use, nil
	}
	use.Pinned = true
	if want != sum {
		return use, &TamperedToolError{Path: path, Expected: want, Actual: sum}
	}
	return use, nil
}

// statExecutable refuses a tool path that is not an executable file, with
// a message naming it.
func statExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checking installer binary: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("checking installer binary: %s is not an executable file", path)
	}
	return nil
}

package install

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// DefaultRPMDBPath is the rpm database inside the root on Red Hat family
// systems. Debian's rpm defaults to ~/.rpmdb instead, so it is always
// passed explicitly.
const DefaultRPMDBPath = "/var/lib/rpm"

// Config is how the Manager installs.
type Config struct {
	// StateDir holds the journal (StateDir/journal), kept before-states
	// (StateDir/keep/TX), kept package files (StateDir/packages) and
	// verified artifacts (StateDir/artifacts). Required.
	StateDir string
	// Root is the filesystem root to install into: "/" for this system, or
	// a sandbox directory.
	Root string
	// Tools are the installer binaries; empty fields are found in PATH.
	Tools Tools
	// ToolPins maps an installer binary's absolute path to its SHA-256
	// (hex); each binary is checked against its pin before every run.
	ToolPins map[string]string
	// RequireToolPins refuses to run a binary that has no pin. Off by
	// default so a new host can install before it is configured; unpinned
	// binaries are still hashed and their digests journalled.
	RequireToolPins bool
	// ToolTimeout bounds one run of dpkg, rpm or apk.
	ToolTimeout time.Duration
	// ScriptTimeout bounds one run of an update script.
	ScriptTimeout time.Duration
	// RPMDBPath is the rpm database directory inside Root.
	RPMDBPath string
	// MaxArchiveBytes bounds an archive's uncompressed size.
	MaxArchiveBytes int64
	// Retention is what kept files are pruned, after every transaction and
	// at Open.
	Retention Retention
	// OnAlert, if set, is called with every alert as it is raised (the
	// agent forwards them); alerts are journalled either way.
	OnAlert func(Alert)
	// OnStep, if set, is called after every journalled step (progress).
	OnStep func(tx *Transaction)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults for a state directory.
func DefaultConfig(stateDir string) Config {
	return Config{
		StateDir:        stateDir,
		Root:            "/",                  // this system
		ToolTimeout:     DefaultToolTimeout,   // a dpkg run rarely takes minutes
		ScriptTimeout:   DefaultScriptTimeout, // scripts are bounded like tools
		RPMDBPath:       DefaultRPMDBPath,     // Red Hat family layout
		MaxArchiveBytes: MaxArchiveBytes,      // 4 GiB uncompressed
		Retention: Retention{
			KeepLast: DefaultKeepLast,       // the last three upgrades can be undone offline
			MaxBytes: DefaultRetentionBytes, // 2 GiB of kept files at most
		},
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("state_dir is required"))
	}
	if c.Root != "" && !filepath.IsAbs(c.Root) {
		errs = append(errs, fmt.Errorf("sysroot %q must be an absolute path", c.Root))
	}
	if c.ToolTimeout <= 0 {
		errs = append(errs, fmt.Errorf("tool_timeout %s must be positive", c.ToolTimeout))
	}
	if c.ScriptTimeout <= 0 {
		errs = append(errs, fmt.Errorf("script_timeout %s must be positive", c.ScriptTimeout))
	}
	if c.MaxArchiveBytes <= 0 || c.MaxArchiveBytes > MaxArchiveBytes {
		errs = append(errs, fmt.Errorf("max_archive_bytes %d must be in 1..%d", c.MaxArchiveBytes, int64(MaxArchiveBytes)))
	}
	if !filepath.IsAbs(c.RPMDBPath) {
		errs = append(errs, fmt.Errorf("rpm_dbpath %q must be an absolute path inside the root", c.RPMDBPath))
	}
	if err := c.Retention.Validate(); err != nil {
		errs = append(errs, err)
	}
	for path, sum := range c.ToolPins {
		if !filepath.IsAbs(path) {
			errs = append(errs, fmt.Errorf("tool_pins: path %q must be absolute", path))
		}
		if len(sum) != 64 {
			errs = append(errs, fmt.Errorf("tool_pins: %s: %q is not a sha256 hex digest", path, clipText(sum)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("install config: %w", errors.Join(errs...))
	}
	return nil
}

package node

import (
	"context"

	"github.com/patchnet/patchnet/updates/install"
)

// Installer is what an agent uses of its installer: check a fetched
// artifact, install it, and tell whether an update was installed already.
// It is a seam so that agents can run without a package manager: the real
// one is *install.Manager (journalled dpkg, rpm, apk, script and archive
// installs into the sysroot, opened by New unless Config.Installer says
// otherwise); nodelab.RecordingInstaller records installs in memory for
// the tests and the testnet, where thousands of agents share one process
// and no dpkg may run.
type Installer interface {
	// VerifyArtifact checks the file at path against the announced size
	// and SHA-256 and returns the checked copy; bytes that differ are
	// refused (trust.ErrDigestMismatch).
	VerifyArtifact(path string, want install.Expect) (install.VerifiedArtifact, error)
	// InstallVerified installs a checked artifact as one transaction. On
	// an error a non-nil transaction says how far it got.
	InstallVerified(ctx context.Context, art install.VerifiedArtifact, plan install.Plan) (*install.Transaction, error)
	// InstalledBy is the install of announcement id at version that
	// stands, or nil: an agent never installs one update twice.
	InstalledBy(id string, version uint64) *install.Transaction
	// Close releases the installer's state (the journal).
	Close() error
}

// The real installer.
var _ Installer = (*install.Manager)(nil)

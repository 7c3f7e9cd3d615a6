package nodelab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/updates/install"
)

// RecordingInstaller is a node.Installer that runs no package manager, for
// the node tests on hosts without dpkg and for the testnet (thousands of
// agents in one process). It verifies each artifact's size and SHA-256
// for real (install.VerifyArtifact: bytes other than the announced ones
// are refused, as by the real installer) and records each install in
// memory. For a .deb it was told about (by SHA-256), it also writes the
// package into the sysroot's dpkg status file as dpkg would, so sysinfo's
// inventory and InstalledVersion see the new version; any other verified
// artifact is only recorded. It keeps no journal and no before-states and
// cannot roll back: Node.Installs is nil for an agent using it.
type RecordingInstaller struct {
	stateDir, sysroot string
	debs              map[[32]byte]Deb

	mu      sync.Mutex // one install at a time, as the real installer
	records []InstallRecord
}

var _ node.Installer = (*RecordingInstaller)(nil)

// InstallRecord is one install: recorded by a RecordingInstaller, or read
// from a committed transaction of the install journal (Member.Installed).
type InstallRecord struct {
	// ID and Version are the announcement's, from the install plan.
	ID      string
	Version uint64
	// Method is the plan's install method ("dpkg").
	Method string
	// SHA256 is the installed artifact's verified digest.
	SHA256 [32]byte
	// Goal is the package and version installed; zero for an artifact a
	// RecordingInstaller was not told about.
	Goal install.Goal
	// At is when the install was made.
	At time.Time
	// Tx is the transaction the installer returned for it.
	Tx *install.Transaction
}

// NewRecordingInstaller records installs for an agent whose state
// directory is stateDir (verified artifacts are copied under it) and whose
// root is sysroot. debs are the .debs, by SHA-256, it installs into
// sysroot's dpkg status; sysroot must then be a sandbox, never "/".
func NewRecordingInstaller(stateDir, sysroot string, debs map[[32]byte]Deb) (*RecordingInstaller, error) {
	if stateDir == "" {
		return nil, errors.New("nodelab: a RecordingInstaller needs a state directory")
	}
	if len(debs) > 0 && (!filepath.IsAbs(sysroot) || filepath.Clean(sysroot) == "/") {
		return nil, fmt.Errorf("nodelab: a RecordingInstaller writes the dpkg status of its sysroot: %q must be an absolute directory other than /", sysroot)
	}
	return &RecordingInstaller{stateDir: stateDir, sysroot: filepath.Clean(sysroot), debs: debs}, nil
}

// VerifyArtifact checks path against want while copying it under the state
// directory, exactly as install.Manager does.
func (r *RecordingInstaller) VerifyArtifact(path string, want install.Expect) (install.VerifiedArtifact, error) {
	return install.VerifyArtifact(path, filepath.Join(r.stateDir, "artifacts", hex.EncodeToString(want.SHA256[:])), want)
}

// InstallVerified records the install of art and, for a .deb it knows
// installed with method dpkg, writes its package into the dpkg status. It
// returns a committed transaction, as the real installer would.
func (r *RecordingInstaller) InstallVerified(ctx context.Context, art install.VerifiedArtifact, plan install.Plan) (*install.Transaction, error) {
	if art.IsZero() {
		return nil, errors.New("installing: the artifact was not verified")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("installing %s: %w", art.Name(), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UTC()
	tx := &install.Transaction{ID: fmt.Sprintf("%s-%06x", now.Format("20060102-150405.000000"), len(r.records)+1),
		Kind: install.KindInstall, Plan: plan, Root: r.sysroot,
		Artifact: install.ArtifactRef{Name: art.Name(), Size: art.Size(), SHA256: art.Digest(), Path: art.Path()}}
	if deb, ok := r.debs[art.SHA256()]; ok && plan.Method == "dpkg" {
		tx.Goal = install.Goal{Package: deb.Package, Version: deb.Version}
		if err := r.writeStatus(deb); err != nil {
			tx.State, tx.Error = install.StateFailed, err.Error()
			tx.Steps = []install.Step{{State: install.StateFailed, At: now, Note: "recorded by nodelab.RecordingInstaller"}}
			return tx, fmt.Errorf("installing %s: %w", art.Name(), err)
		}
	}
	tx.State = install.StateCommitted
	tx.Steps = []install.Step{{State: install.StateCommitted, At: now, Note: "recorded by nodelab.RecordingInstaller: no package manager ran"}}
	// Nothing reads the checked copy again: no before-state is kept.
	os.Remove(art.Path())
	r.records = append(r.records, InstallRecord{ID: plan.AnnouncementID, Version: plan.AnnouncementVersion, Method: plan.Method,
		SHA256: art.SHA256(), Goal: tx.Goal, At: now, Tx: tx})
	c := *tx
	return &c, nil
}

// InstalledBy is the newest recorded install of announcement id at
// version, or nil.
func (r *RecordingInstaller) InstalledBy(id string, version uint64) *install.Transaction {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.records) - 1; i >= 0; i-- {
		if rec := r.records[i]; rec.ID == id && rec.Version == version {
			c := *rec.Tx
			return &c
		}
	}
	return nil
}

// Records lists the recorded installs, oldest first.
func (r *RecordingInstaller) Records() []InstallRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]InstallRecord(nil), r.records...)
}

// Close releases nothing: the records stay, so a node started again with
// this recorder (Lab.Restart) knows what it installed, as a real agent
// knows from the journal on disk.
func (r *RecordingInstaller) Close() error { return nil }

// writeStatus puts deb's installed stanza into the sysroot's dpkg status
// file in place of its package's, written beside it and renamed over it
// as dpkg does, so a reader never sees half of it.
func (r *RecordingInstaller) writeStatus(deb Deb) error {
	path := filepath.Join(r.sysroot, dpkgStatus)
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the dpkg status: %w", err)
	}
	tmp := path + "-new"
	if err := os.WriteFile(tmp, []byte(replaceStanza(string(old), deb)), 0o644); err != nil {
		return fmt.Errorf("writing the dpkg status: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the dpkg status: %w", err)
	}
	return nil
}

// replaceStanza is the dpkg status text status with deb's package's stanza
// replaced by deb's installed one (or, if it had none, deb's added).
func replaceStanza(status string, deb Deb) string {
	var out []string
	added := false
	for _, st := range strings.Split(strings.ReplaceAll(status, "\r\n", "\n"), "\n\n") {
		st = strings.Trim(st, "\n")
		if st == "" {
			continue
		}
		if stanzaPackage(st) == deb.Package {
			if !added {
				out, added = append(out, strings.TrimSuffix(deb.statusStanza(), "\n")), true
			}
			continue
		}
		out = append(out, st)
	}
	if !added {
		out = append(out, strings.TrimSuffix(deb.statusStanza(), "\n"))
	}
	return strings.Join(out, "\n\n") + "\n\n"
}

// stanzaPackage is the Package field of one status stanza.
func stanzaPackage(stanza string) string {
	for line := range strings.SplitSeq(stanza, "\n") {
		if name, ok := strings.CutPrefix(line, "Package:"); ok {
			return strings.TrimSpace(name)
		}
	}
	return ""
}

// DigestFile is the SHA-256 and size of the file at path.
func DigestFile(path string) ([32]byte, int64, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return sum, 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

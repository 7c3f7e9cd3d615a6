package install

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchnet/patchnet/trust"
)

// Expect is what an announcement says an artifact is. It is only a claim
// until VerifyArtifact has checked the bytes against it.
type Expect struct {
	// Name is a plain file name (no directories) for the kept copy.
	Name string
	// Size is the exact length in bytes.
	Size int64
	// SHA256 is the digest of the whole file.
	SHA256 [32]byte
}

// VerifiedArtifact is a file whose size and SHA-256 were checked while it
// was copied into a directory patchnet owns. It can only be made by
// VerifyArtifact (or read back from the journal for a file patchnet kept),
// so an installer that receives one never runs an unchecked byte, and a
// later change to the source file cannot reach the installer.
type VerifiedArtifact struct {
	path   string
	name   string
	size   int64
	sha256 [32]byte
}

// Path is the checked copy.
func (a VerifiedArtifact) Path() string { return a.path }

// Name is the artifact's file name.
func (a VerifiedArtifact) Name() string { return a.name }

// Size is the checked length in bytes.
func (a VerifiedArtifact) Size() int64 { return a.size }

// SHA256 is the checked digest.
func (a VerifiedArtifact) SHA256() [32]byte { return a.sha256 }

// Digest is the checked digest as lowercase hex.
func (a VerifiedArtifact) Digest() string { return hex.EncodeToString(a.sha256[:]) }

// IsZero reports whether a was never verified.
func (a VerifiedArtifact) IsZero() bool { return a.path == "" }

// VerifyArtifact copies src into dir while counting and hashing every byte,
// and returns the copy only if its size and SHA-256 are what want says.
// Reading stops one byte past the expected size (endless data). On any
// mismatch the copy is removed and the error matches trust.ErrDigestMismatch
// (and so trust.ErrUntrusted).
func VerifyArtifact(src, dir string, want Expect) (VerifiedArtifact, error) {
	if err := checkFileName(want.Name); err != nil {
		return VerifiedArtifact{}, fmt.Errorf("verifying artifact: %w", err)
	}
	if want.Size < 0 {
		return VerifiedArtifact{}, fmt.Errorf("verifying artifact: negative size %d", want.Size)
	}
	in, err := os.Open(src)
	if err != nil {
		return VerifiedArtifact{}, fmt.Errorf("verifying artifact: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return VerifiedArtifact{}, fmt.Errorf("verifying artifact: %w", err)
	}
	// The copy is made under a temporary name and renamed into place only
	// once checked: dst may be a hard link of a kept package file, whose
	// content must never be overwritten by unchecked bytes.
	dst := filepath.Join(dir, want.Name)
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return VerifiedArtifact{}, fmt.Errorf("verifying artifact: %w", err)
	}
	tmp.Close()
	got, n, err := copyHashed(in, tmp.Name(), want.Size)
	if err == nil {
		err = compareArtifact(src, want, got, n)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return VerifiedArtifact{}, err
	}
	return VerifiedArtifact{path: dst, name: want.Name, size: n, sha256: got}, nil
}

// compareArtifact names what differs between the announced and the actual.
func compareArtifact(src string, want Expect, got [32]byte, n int64) error {
	if n != want.Size {
		return fmt.Errorf("verifying artifact %s: size is %s bytes, announced %d: %w",
			src, sizeText(n, want.Size), want.Size, trust.ErrDigestMismatch)
	}
	if got != want.SHA256 {
		return fmt.Errorf("verifying artifact %s: sha256 is %x, announced %x: %w",
			src, got, want.SHA256, trust.ErrDigestMismatch)
	}
	return nil
}

// sizeText says "more than N" when reading stopped at the bound.
func sizeText(n, want int64) string {
	if n > want {
		return fmt.Sprintf("more than %d", want)
	}
	return fmt.Sprint(n)
}

// copyHashed copies at most limit+1 bytes of r into a new file at dst,
// synced, and returns their digest and count.
func copyHashed(r io.Reader, dst string, limit int64) ([32]byte, int64, error) {
	var sum [32]byte
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return sum, 0, fmt.Errorf("verifying artifact: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, limit+1))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return sum, n, fmt.Errorf("verifying artifact: copying to %s: %w", dst, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

// reverifyKept re-hashes a file patchnet kept earlier (a before-state
// package) so that rollback hands an installer only checked bytes too.
func reverifyKept(path, digest string) (VerifiedArtifact, error) {
	want, err := hex.DecodeString(digest)
	if err != nil || len(want) != sha256.Size {
		return VerifiedArtifact{}, fmt.Errorf("verifying kept file %s: journal digest %q is not sha256 hex", path, digest)
	}
	f, err := os.Open(path)
	if err != nil {
		return VerifiedArtifact{}, fmt.Errorf("verifying kept file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return VerifiedArtifact{}, fmt.Errorf("verifying kept file %s: %w", path, err)
	}
	var got [32]byte
	copy(got[:], h.Sum(nil))
	if !strings.EqualFold(hex.EncodeToString(got[:]), digest) {
		return VerifiedArtifact{}, fmt.Errorf("verifying kept file %s: sha256 is %x, journal says %s: %w",
			path, got, digest, trust.ErrDigestMismatch)
	}
	return VerifiedArtifact{path: path, name: filepath.Base(path), size: n, sha256: got}, nil
}

// fileDigest is the SHA-256 of a file, as lowercase hex.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkFileName refuses names that would leave the directory they are
// joined to.
func checkFileName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("artifact name %q is not a file name", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("artifact name %q contains a path separator or NUL", name)
	case len(name) > MaxPackageField:
		return fmt.Errorf("artifact name is %d bytes, more than %d", len(name), MaxPackageField)
	}
	return nil
}

// errNotVerified is returned when an installer is handed a zero artifact.
var errNotVerified = errors.New("artifact was not verified")

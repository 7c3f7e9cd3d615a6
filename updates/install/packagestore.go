package install

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// PackageStore keeps every package file patchnet installed, by method, name
// and version, so the next upgrade has the previous version's file as its
// before-state: distribution archives drop superseded versions, so they
// cannot be fetched again later.
type PackageStore struct{ dir string }

// NewPackageStore keeps files under dir.
func NewPackageStore(dir string) *PackageStore { return &PackageStore{dir: dir} }

// key is the file's path in the store; name and version are escaped so no
// value can leave the store directory.
func (s *PackageStore) key(method, pkg, version string) string {
	return filepath.Join(s.dir, url.PathEscape(method), url.PathEscape(pkg)+"_"+url.PathEscape(version))
}

// Put keeps a verified package file (a hard link when on the same
// filesystem, else a copy) with its digest beside it.
func (s *PackageStore) Put(method, pkg, version string, art VerifiedArtifact) (string, error) {
	dst := s.key(method, pkg, version)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", fmt.Errorf("keeping package file: %w", err)
	}
	if err := linkOrCopy(art.Path(), dst); err != nil {
		return "", fmt.Errorf("keeping package file: %w", err)
	}
	if err := writeFileSync(dst+".sha256", []byte(art.Digest()+"\n")); err != nil {
		return "", fmt.Errorf("keeping package file: %w", err)
	}
	return dst, nil
}

// Lookup returns the kept file of a version and the digest recorded for it.
func (s *PackageStore) Lookup(method, pkg, version string) (path, digest string, ok bool) {
	path = s.key(method, pkg, version)
	sum, err := os.ReadFile(path + ".sha256")
	if err != nil {
		return "", "", false
	}
	if _, err := os.Stat(path); err != nil {
		return "", "", false
	}
	return path, strings.TrimSpace(string(sum)), true
}

// linkOrCopy makes dst have src's content, replacing dst atomically.
func linkOrCopy(src, dst string) error {
	tmp := dst + ".tmp"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			return err
		}
	}
	return os.Rename(tmp, dst)
}

// copyFile copies a regular file and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}

// writeFileSync writes a small file and syncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// keepFile puts a before-state package file in the transaction's keep
// directory and returns its path and digest.
func keepFile(src, keepDir string) (string, error) {
	if err := os.MkdirAll(keepDir, 0o700); err != nil {
		return "", err
	}
	dst := filepath.Join(keepDir, "before-"+filepath.Base(src))
	return dst, linkOrCopy(src, dst)
}

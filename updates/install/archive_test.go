package install

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one archive member.
type entry struct {
	name, body, link string
	typ              byte // tar type; 0 = regular file
}

// tarGzBytes builds a tar.gz in memory.
func tarGzBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Linkname: e.link}
		if e.typ != 0 {
			hdr.Typeflag, hdr.Size = e.typ, 0
		}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// writeTarGz writes a tar.gz file.
func writeTarGz(t testing.TB, name string, entries []entry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, tarGzBytes(t, entries), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeZip writes a zip file; symlinks get the symlink mode.
func writeZip(t testing.TB, name string, entries []entry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		fh.SetMode(0o644)
		body := e.body
		if e.typ == tar.TypeSymlink {
			fh.SetMode(os.ModeSymlink | 0o777)
			body = e.link
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestArchiveInstallRollback(t *testing.T) {
	for _, format := range []string{"tar.gz", "zip"} {
		t.Run(format, func(t *testing.T) {
			root := t.TempDir()
			tm := newTestManager(t, root, nil)
			build := func(v string) string {
				entries := []entry{{name: "bin/tool", body: "tool " + v}, {name: "share/" + v + ".txt", body: v}}
				if format == "zip" {
					return writeZip(t, "app-"+v+".zip", entries)
				}
				return writeTarGz(t, "app-"+v+".tar.gz", entries)
			}
			prefix := filepath.Join(root, "opt/app")
			plan := Plan{Method: "archive", Prefix: "/opt/app"}
			tx1 := tm.mustInstall(t, build("1"), plan)
			if tx1.Before.Kind != BeforeAbsent {
				t.Errorf("first install before-state %q, want absent", tx1.Before.Kind)
			}
			tx2 := tm.mustInstall(t, build("2"), plan)
			if got := readFile(t, filepath.Join(prefix, "bin/tool")); got != "tool 2" {
				t.Fatalf("after v2 tool is %q", got)
			}
			if got := readFile(t, filepath.Join(prefix, "share/1.txt")); got != "<missing>" {
				t.Errorf("v1's file survived the swap: %q", got)
			}
			leftovers, _ := filepath.Glob(prefix + ".*")
			if len(leftovers) != 0 {
				t.Errorf("staging directories left next to the prefix: %v", leftovers)
			}
			if _, err := tm.Rollback(context.Background(), tx2.ID); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(prefix, "bin/tool")); got != "tool 1" {
				t.Errorf("after rollback tool is %q, want v1's", got)
			}
			if got := readFile(t, filepath.Join(prefix, "share/2.txt")); got != "<missing>" {
				t.Errorf("v2's file survived the rollback")
			}
			if _, err := tm.Rollback(context.Background(), tx1.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(prefix); !os.IsNotExist(err) {
				t.Errorf("rolling back the first install left %s: %v", prefix, err)
			}
		})
	}
}

func TestArchivePathTraversalRefused(t *testing.T) {
	cases := []struct {
		name    string
		entries []entry
		zip     bool
		why     string
	}{
		{"dotdot", []entry{{name: "../escaped", body: "x"}}, false, `climbs out`},
		{"nested dotdot", []entry{{name: "a/../../escaped", body: "x"}}, false, `climbs out`},
		{"absolute", []entry{{name: "/tmp/escaped", body: "x"}}, false, `absolute path`},
		{"symlink out", []entry{{name: "link", link: "../../etc", typ: tar.TypeSymlink}}, false, `leaves the tree`},
		{"absolute symlink", []entry{{name: "link", link: "/etc", typ: tar.TypeSymlink}}, false, `leaves the tree`},
		{"write through symlink", []entry{
			{name: "x", link: ".", typ: tar.TypeSymlink},
			{name: "x/q", link: "..", typ: tar.TypeSymlink},
			{name: "x/q/escaped", body: "x"}}, false, `goes through the symlink "x"`},
		{"hard link out", []entry{{name: "h", link: "../../etc/passwd", typ: tar.TypeLink}}, false, `hard link target`},
		{"device", []entry{{name: "dev", typ: tar.TypeChar}}, false, `device`},
		{"zip dotdot", []entry{{name: "../escaped", body: "x"}}, true, `climbs out`},
		{"zip symlink out", []entry{{name: "link", link: "../..", typ: tar.TypeSymlink}}, true, `leaves the tree`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			tm := newTestManager(t, root, nil)
			var path string
			if c.zip {
				path = writeZip(t, "evil.zip", c.entries)
			} else {
				path = writeTarGz(t, "evil.tar.gz", c.entries)
			}
			tx, err := tm.install(t, path, Plan{Method: "archive", Prefix: "/opt/app"})
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("install error %v, want ErrUnsafeArchive", err)
			}
			if !strings.Contains(err.Error(), c.why) {
				t.Errorf("error %q does not say %q", err, c.why)
			}
			if tx.State != StateFailed {
				t.Errorf("transaction %s, want failed", tx.State)
			}
			escaped, _ := filepath.Glob(filepath.Join(root, "*", "escaped"))
			escaped2, _ := filepath.Glob(filepath.Join(root, "escaped"))
			if len(escaped)+len(escaped2) > 0 {
				t.Errorf("a file escaped: %v %v", escaped, escaped2)
			}
			if _, err := os.Stat(filepath.Join(root, "opt/app")); !os.IsNotExist(err) {
				t.Errorf("prefix exists after a refused archive: %v", err)
			}
			if left, _ := filepath.Glob(filepath.Join(root, "opt/app.*")); len(left) > 0 {
				t.Errorf("staging left behind: %v", left)
			}
		})
	}
}

func TestArchiveBombRefused(t *testing.T) {
	zeros := strings.Repeat("\x00", 8<<20)
	cases := map[string]string{
		"tar.gz past the byte bound": writeTarGz(t, "bomb.tar.gz", []entry{{name: "a", body: zeros}, {name: "b", body: zeros}}),
		"zip past the ratio bound":   writeZip(t, "bomb.zip", []entry{{name: "a", body: zeros}}),
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			tm := newTestManager(t, root, func(c *Config) { c.MaxArchiveBytes = 10 << 20 })
			_, err := tm.install(t, path, Plan{Method: "archive", Prefix: "/opt/app"})
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("error %v, want ErrUnsafeArchive", err)
			}
			if _, err := os.Stat(filepath.Join(root, "opt/app")); !os.IsNotExist(err) {
				t.Errorf("prefix exists after a refused bomb")
			}
		})
	}
}

func TestArchiveRefusesBadPrefix(t *testing.T) {
	for _, prefix := range []string{"", "relative/dir", "/", "/opt/../etc"} {
		tm := newTestManager(t, t.TempDir(), nil)
		_, err := tm.install(t, writeTarGz(t, "a.tar.gz", []entry{{name: "f", body: "x"}}), Plan{Method: "archive", Prefix: prefix})
		if err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("prefix %q: error %v, want one naming the prefix", prefix, err)
		}
	}
}

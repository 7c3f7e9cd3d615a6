package install

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// failAfterSwap is the archive installer with a failure right after the
// swap, so the undo path runs with the new tree in place.
type failAfterSwap struct{ Archive }

func (f failAfterSwap) Install(ctx context.Context, env *Env, art VerifiedArtifact, goal Goal) error {
	if err := f.Archive.Install(ctx, env, art, goal); err != nil {
		return err
	}
	return errors.New("simulated failure after the swap")
}

// oldTreeWithFIFO fills prefix with files and a FIFO, which no copy could
// take along.
func oldTreeWithFIFO(t *testing.T, prefix string) {
	t.Helper()
	for _, n := range []string{"a.txt", "b.txt", "sub/z.txt"} {
		writeFile(t, filepath.Join(prefix, n), "old "+n)
	}
	if err := syscall.Mkfifo(filepath.Join(prefix, "m.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// assertOldTree checks every file of oldTreeWithFIFO is at dir.
func assertOldTree(t *testing.T, dir string) {
	t.Helper()
	for _, n := range []string{"a.txt", "b.txt", "sub/z.txt"} {
		if got := readFile(t, filepath.Join(dir, n)); got != "old "+n {
			t.Errorf("%s/%s is %q, want the old tree's", dir, n, got)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, "m.fifo")); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the old tree's FIFO is not at %s: %v", dir, err)
	}
}

// TestArchiveFailedInstallKeepsOldTree: with the state directory on another
// filesystem (tmpfs) and a FIFO in the old tree, the replaced tree must
// neither be copied nor lost: an install keeps it beside the prefix, a
// rollback brings it back whole, and a failed install restores it whole.
func TestArchiveFailedInstallKeepsOldTree(t *testing.T) {
	state, err := os.MkdirTemp("/dev/shm", "pn-install-state-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	root := t.TempDir()
	if sameFS(t, state, root) {
		t.Skip("/dev/shm is on the same filesystem as the temp directory")
	}
	prefix := filepath.Join(root, "opt/app")
	newTree := writeTarGz(t, "new.tar.gz", []entry{{name: "new.txt", body: "new"}})
	plan := Plan{Method: "archive", Prefix: "/opt/app"}

	t.Run("install and rollback", func(t *testing.T) {
		oldTreeWithFIFO(t, prefix)
		tm := openTestManager(t, filepath.Join(state, "a"), root, nil)
		tx := tm.mustInstall(t, newTree, plan)
		if filepath.Dir(tx.Before.Path) != filepath.Dir(prefix) {
			t.Errorf("the old tree is kept at %s, not beside the prefix", tx.Before.Path)
		}
		assertOldTree(t, tx.Before.Path)
		if _, err := tm.Rollback(context.Background(), tx.ID); err != nil {
			t.Fatal(err)
		}
		assertOldTree(t, prefix)
		if got := readFile(t, filepath.Join(prefix, "new.txt")); got != "<missing>" {
			t.Errorf("the new tree survived the rollback")
		}
	})

	t.Run("failure after the swap", func(t *testing.T) {
		os.RemoveAll(prefix)
		oldTreeWithFIFO(t, prefix)
		cfg := DefaultConfig(filepath.Join(state, "b"))
		cfg.Root = root
		m, err := NewManager(cfg, NewMemoryStore(), map[string]Installer{"archive": failAfterSwap{}})
		if err != nil {
			t.Fatal(err)
		}
		tm := &testManager{Manager: m, state: cfg.StateDir, root: root}
		tx, err := tm.install(t, newTree, plan)
		if err == nil || tx.State != StateFailed {
			t.Fatalf("install: %v, state %s; want failed and restored (%s)", err, tx.State, tx.Error)
		}
		assertOldTree(t, prefix)
		if got := readFile(t, filepath.Join(prefix, "new.txt")); got != "<missing>" {
			t.Errorf("the failed tree is still at the prefix")
		}
	})
}

// sameFS reports whether two paths are on one filesystem.
func sameFS(t *testing.T, a, b string) bool {
	t.Helper()
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(b, &sb); err != nil {
		t.Fatal(err)
	}
	return sa.Dev == sb.Dev
}

// chainEscape is the reviewer's archive: two symlinks, each inside the tree
// when read alone, that together climb two levels above it, then a hard
// link through them to a file outside.
func chainEscape(linksFirst bool) []entry {
	s1 := entry{name: "a/b/s1", link: "../..", typ: tar.TypeSymlink}
	s2 := entry{name: "s2", link: "a/b/s1/../..", typ: tar.TypeSymlink}
	dirs := []entry{{name: "a/", typ: tar.TypeDir}, {name: "a/b/", typ: tar.TypeDir}}
	if linksFirst {
		return append(append(dirs, s2), s1) // s2 is checked before s1 exists
	}
	return append(dirs, s1, s2)
}

func TestArchiveSymlinkChainEscapeRefused(t *testing.T) {
	for name, entries := range map[string][]entry{
		"inner link first": chainEscape(false),
		"outer link first": chainEscape(true),
		"link loop":        {{name: "l1", link: "l2/x", typ: tar.TypeSymlink}, {name: "l2", link: "l1/x", typ: tar.TypeSymlink}},
	} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "x", "prefix.new")
			os.MkdirAll(filepath.Dir(dir), 0o755)
			err := Extract(writeTarGz(t, "chain.tar.gz", entries), dir, 1<<20)
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("Extract: %v, want ErrUnsafeArchive", err)
			}
			if !strings.Contains(err.Error(), "symlink to") {
				t.Errorf("error %q does not name the symlink", err)
			}
		})
	}
}

func TestArchiveHardlinkThroughSymlinkRefused(t *testing.T) {
	cases := map[string][]entry{
		"through an escaping chain": append(chainEscape(true), entry{name: "stolen", link: "s2/secret.txt", typ: tar.TypeLink}),
		"through an inside link":    {{name: "d/", typ: tar.TypeDir}, {name: "d/f", body: "x"}, {name: "l", link: "d", typ: tar.TypeSymlink}, {name: "h", link: "l/f", typ: tar.TypeLink}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			writeFile(t, filepath.Join(base, "x", "secret.txt"), "host secret")
			dir := filepath.Join(base, "x", "prefix", "new")
			os.MkdirAll(filepath.Dir(dir), 0o755)
			err := Extract(writeTarGz(t, "h.tar.gz", entries), dir, 1<<20)
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("Extract: %v, want ErrUnsafeArchive", err)
			}
			if !strings.Contains(err.Error(), "hard link target") {
				t.Errorf("error %q does not name the hard link", err)
			}
		})
	}
}

// TestRollbackRefusedWhileLaterTransactionStands: rolling back an older
// install while a later one to the same prefix stands would silently undo
// the later one, which would stay marked installed.
func TestRollbackRefusedWhileLaterTransactionStands(t *testing.T) {
	root := t.TempDir()
	prefix := filepath.Join(root, "opt/app")
	tm := newTestManager(t, root, nil)
	ctx := context.Background()
	version := func(v string) string {
		return writeTarGz(t, "v"+v+".tar.gz", []entry{{name: "v", body: v}})
	}
	plan := Plan{Method: "archive", Prefix: "/opt/app"}
	a := tm.mustInstall(t, version("1"), plan)
	b := tm.mustInstall(t, version("2"), plan)
	other := tm.mustInstall(t, version("x"), Plan{Method: "archive", Prefix: "/opt/other"})

	refused := func(tx, blocker *Transaction) {
		t.Helper()
		_, err := tm.Rollback(ctx, tx.ID)
		if !errors.Is(err, ErrNotRollbackable) || !strings.Contains(err.Error(), "roll back "+blocker.ID+" first") {
			t.Fatalf("rollback of %s: %v; want a refusal naming %s", tx.ID, err, blocker.ID)
		}
	}
	rollback := func(tx *Transaction, want string) *Transaction {
		t.Helper()
		rb, err := tm.Rollback(ctx, tx.ID)
		if err != nil {
			t.Fatalf("rollback of %s: %v", tx.ID, err)
		}
		if got := readFile(t, filepath.Join(prefix, "v")); got != want {
			t.Fatalf("after rolling back %s the prefix holds %q, want %q", tx.ID, got, want)
		}
		return rb
	}
	refused(a, b)
	if got := readFile(t, filepath.Join(prefix, "v")); got != "2" {
		t.Fatalf("a refused rollback changed the prefix to %q", got)
	}
	if tm.InstalledBy(b.Plan.AnnouncementID, b.Plan.AnnouncementVersion) == nil {
		t.Errorf("B no longer counts as installed")
	}
	undoB := rollback(b, "1")
	redoB := rollback(undoB, "2") // rolling back the rollback puts B back
	if tm.InstalledBy(b.Plan.AnnouncementID, b.Plan.AnnouncementVersion) == nil {
		t.Errorf("B, put back by rolling back its rollback, does not count as installed")
	}
	refused(a, redoB)
	rollback(redoB, "1")
	rollback(a, "<missing>")
	rollback(other, "<missing>") // another prefix was never in the way
}

// failRollbackAfterSwap fails a rollback right after its swap, so undoing
// the rollback has to put both trees back where they were.
type failRollbackAfterSwap struct{ Archive }

func (f failRollbackAfterSwap) Restore(ctx context.Context, env *Env, before Before) error {
	if err := f.Archive.Restore(ctx, env, before); err != nil || env.undoing {
		return err
	}
	return errors.New("simulated failure after the rollback's swap")
}

// TestArchiveFailedRollbackReturnsKeptTree: a rollback that fails after
// its swap is undone, the newer tree is back at the prefix and the older
// one is back under the name the original transaction recorded, so the
// original can still be rolled back.
func TestArchiveFailedRollbackReturnsKeptTree(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	prefix := filepath.Join(root, "opt/app")
	cfg := DefaultConfig(state)
	cfg.Root = root
	store := NewMemoryStore()
	manager := func(inst Installer) *testManager {
		m, err := NewManager(cfg, store, map[string]Installer{"archive": inst})
		if err != nil {
			t.Fatal(err)
		}
		return &testManager{Manager: m, state: state, root: root}
	}
	good, bad := manager(Archive{}), manager(failRollbackAfterSwap{})
	plan := Plan{Method: "archive", Prefix: "/opt/app"}
	good.mustInstall(t, writeTarGz(t, "v1.tar.gz", []entry{{name: "v", body: "1"}}), plan)
	tx2 := good.mustInstall(t, writeTarGz(t, "v2.tar.gz", []entry{{name: "v", body: "2"}}), plan)
	rb, err := bad.Rollback(context.Background(), tx2.ID)
	if err == nil || rb.State != StateFailed {
		t.Fatalf("rollback: %v, state %s; want failed and undone (%s)", err, rb.State, rb.Error)
	}
	if got := readFile(t, filepath.Join(prefix, "v")); got != "2" {
		t.Errorf("after the undone rollback the prefix holds %q, want 2", got)
	}
	if got := readFile(t, filepath.Join(tx2.Before.Path, "v")); got != "1" {
		t.Errorf("v1's tree is not back at %s: %q", tx2.Before.Path, got)
	}
	if _, err := good.Rollback(context.Background(), tx2.ID); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(prefix, "v")); got != "1" {
		t.Errorf("the second rollback left %q, want 1", got)
	}
}

package nodelab

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/sysinfo"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// installerImpls are the node.Installers an agent of the lab can have,
// each opened for a sandbox root.
var installerImpls = []struct {
	name string
	open func(t *testing.T, state, root string, debs map[[32]byte]Deb) node.Installer
}{
	{"install.Manager", func(t *testing.T, state, root string, _ map[[32]byte]Deb) node.Installer {
		for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed", tool)
			}
		}
		cfg := install.DefaultConfig(state)
		cfg.Root = root
		m, _, err := install.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}},
	{"RecordingInstaller", func(t *testing.T, state, root string, debs map[[32]byte]Deb) node.Installer {
		r, err := NewRecordingInstaller(state, root, debs)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}},
}

// Each installer, real or recording, refuses bytes other than the
// announced ones, installs the lab's packages so that dpkg's status, the
// inventory and matching see them, and knows what it installed. The .debs
// are writeDeb's, so with dpkg present the real case also checks that dpkg
// installs them.
func TestInstallers(t *testing.T) {
	for _, impl := range installerImpls {
		t.Run(impl.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			debs, paths := map[[32]byte]Deb{}, map[string]string{}
			for _, v := range []string{OldVersion, NewVersion} {
				d := labDeb(v)
				path, err := buildDeb(ctx, filepath.Join(dir, "packages"), d, false)
				if err != nil {
					t.Fatal(err)
				}
				sum, _, err := DigestFile(path)
				if err != nil {
					t.Fatal(err)
				}
				debs[sum], paths[v] = d, path
			}
			root := filepath.Join(dir, "root")
			if err := makeSandbox(root); err != nil {
				t.Fatal(err)
			}
			in := impl.open(t, filepath.Join(dir, "state"), root, debs)
			checkVersion(t, root, "")
			if err := installOld(ctx, in, paths[OldVersion]); err != nil {
				t.Fatal(err)
			}
			checkVersion(t, root, OldVersion)

			sum, size, err := DigestFile(paths[NewVersion])
			if err != nil {
				t.Fatal(err)
			}
			want := install.Expect{Name: filepath.Base(paths[NewVersion]), Size: size, SHA256: sum}
			wrongSum, wrongSize := want, want
			wrongSum.SHA256[0] ^= 1
			wrongSize.Size--
			for _, bad := range []install.Expect{wrongSum, wrongSize} {
				if _, err := in.VerifyArtifact(paths[NewVersion], bad); !errors.Is(err, trust.ErrDigestMismatch) {
					t.Errorf("verifying against %d bytes, sha256 %x: %v, want a digest mismatch", bad.Size, bad.SHA256, err)
				}
			}
			if _, err := in.InstallVerified(ctx, install.VerifiedArtifact{}, install.Plan{Method: "dpkg"}); err == nil {
				t.Error("installed an artifact that was never verified")
			}
			checkVersion(t, root, OldVersion)

			art, err := in.VerifyArtifact(paths[NewVersion], want)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := in.InstallVerified(ctx, art, install.Plan{AnnouncementID: "PNT-1", AnnouncementVersion: 2, Method: "dpkg"})
			if err != nil {
				t.Fatal(err)
			}
			if tx.State != install.StateCommitted || tx.Goal.Package != PackageName || tx.Goal.Version != NewVersion || install.CheckTxID(tx.ID) != nil {
				t.Errorf("transaction %s %s of %s, want a committed install of %s %s", tx.ID, tx.State, tx.Goal, PackageName, NewVersion)
			}
			checkVersion(t, root, NewVersion)
			if by := in.InstalledBy("PNT-1", 2); by == nil || by.ID != tx.ID {
				t.Errorf("InstalledBy(PNT-1, 2) = %+v, want transaction %s", by, tx.ID)
			}
			if by := in.InstalledBy("LAB-BASE", 1); by == nil {
				t.Error("the base install is not known")
			}
			if by := in.InstalledBy("PNT-1", 1); by != nil {
				t.Errorf("InstalledBy(PNT-1, 1) = transaction %s, want none", by.ID)
			}
			if err := in.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkVersion checks that root has version of PackageName installed (""
// for none) as dpkg-query (where it is installed) and the status file say,
// and that the fix applies to it exactly while it has the old version.
func checkVersion(t *testing.T, root, version string) {
	t.Helper()
	ctx := context.Background()
	if got, err := InstalledVersion(ctx, root); err != nil || got != version {
		t.Errorf("InstalledVersion = %q, %v; want %q", got, err, version)
	}
	if got, err := statusVersion(root, PackageName); err != nil || got != version {
		t.Errorf("the dpkg status file has %q, %v; want %q", got, err, version)
	}
	inv, err := sysinfo.Collect(ctx, sysinfo.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	fix := &updates.Announcement{Affected: []updates.Affected{{
		Package: updates.Package{Ecosystem: "Debian:12", Name: PackageName},
		Ranges:  []updates.Range{{Type: updates.RangeEcosystem, Events: []updates.Event{{Introduced: "0"}, {Fixed: NewVersion}}}},
	}}}
	if res := updates.Match(updates.HostFromInventory(inv), fix); res.Applies != (version == OldVersion) {
		t.Errorf("with %q installed, the fix applies: %v (%v)", version, res.Applies, res.Reasons)
	}
}

// writeDeb makes the same bytes every time, in the layout dpkg-deb makes:
// an ar archive of debian-binary, control.tar.gz (./control) and
// data.tar.gz (each directory before what it holds). Where dpkg-deb is
// installed it reads them too.
func TestWriteDeb(t *testing.T) {
	dir := t.TempDir()
	d := labDeb(NewVersion)
	a, b := filepath.Join(dir, "a.deb"), filepath.Join(dir, "b.deb")
	for _, p := range []string{a, b} {
		if err := writeDeb(p, d); err != nil {
			t.Fatal(err)
		}
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Error("two writes of one package differ")
	}
	members := readAr(t, ba)
	if got := strings.Join([]string{members[0].name, members[1].name, members[2].name}, " "); len(members) != 3 ||
		got != "debian-binary control.tar.gz data.tar.gz" || string(members[0].body) != "2.0\n" {
		t.Fatalf("members %s", got)
	}
	control := readTarGz(t, members[1].body)
	if control["./control"] != d.control() {
		t.Errorf("control.tar.gz holds %v", control)
	}
	data := readTarGz(t, members[2].body)
	for name, body := range d.files() {
		if data["./"+name] != body {
			t.Errorf("data.tar.gz: %s is %q, want %q", name, data["./"+name], body)
		}
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Log("dpkg-deb is not installed: the layout alone is checked")
		return
	}
	out, err := exec.Command("dpkg-deb", "--field", a, "Package", "Version").CombinedOutput()
	if err != nil || string(out) != "Package: "+PackageName+"\nVersion: "+NewVersion+"\n" {
		t.Errorf("dpkg-deb --field: %v: %s", err, out)
	}
	out, err = exec.Command("dpkg-deb", "--contents", a).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "root/root") || !strings.Contains(string(out), "./usr/share/"+PackageName+"/greeting") {
		t.Errorf("dpkg-deb --contents: %v: %s", err, out)
	}
}

type arMember struct {
	name string
	body []byte
}

// readAr reads the members of an ar archive.
func readAr(t *testing.T, b []byte) []arMember {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Fatal("not an ar archive")
	}
	b = b[8:]
	var out []arMember
	for len(b) > 0 {
		if len(b) < 60 || string(b[58:60]) != "`\n" {
			t.Fatalf("bad ar member header %q", b[:min(len(b), 60)])
		}
		size, err := strconv.Atoi(strings.TrimSpace(string(b[48:58])))
		if err != nil || 60+size > len(b) {
			t.Fatalf("bad ar member size %q", b[48:58])
		}
		out = append(out, arMember{name: strings.TrimSpace(string(b[:16])), body: b[60 : 60+size]})
		b = b[60+size+size%2:]
	}
	return out
}

// readTarGz reads a gzipped tar's regular files, checking that every
// entry belongs to root and comes after its directory.
func readTarGz(t *testing.T, b []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files, seen := map[string]string{}, map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "root" {
			t.Errorf("%s owned by %s (%d:%d), want root", h.Name, h.Uname, h.Uid, h.Gid)
		}
		trimmed := strings.TrimSuffix(h.Name, "/")
		if parent := trimmed[:strings.LastIndex(trimmed, "/")+1]; h.Name != "./" && !seen[parent] {
			t.Errorf("%s comes before its directory %s", h.Name, parent)
		}
		seen[h.Name] = true
		if h.Typeflag == tar.TypeReg {
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = string(body)
		}
	}
	return files
}

// Installing a package replaces its stanza in the dpkg status and keeps
// every other package's as it was.
func TestReplaceStanza(t *testing.T) {
	other := "Package: other\nStatus: install ok installed\nVersion: 1\n"
	old, fix := labDeb(OldVersion), labDeb(NewVersion)
	for _, tc := range []struct{ name, status, want string }{
		{"empty", "", fix.statusStanza() + "\n"},
		{"added after others", other + "\n", other + "\n" + fix.statusStanza() + "\n"},
		{"replaced in place", other + "\n" + old.statusStanza() + "\n" + other + "\n",
			other + "\n" + fix.statusStanza() + "\n" + other + "\n"},
	} {
		if got := replaceStanza(tc.status, fix); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

// A recorder that knows packages writes the dpkg status of its sysroot,
// so that sysroot must not be the host's.
func TestRecordingInstallerNeedsSandbox(t *testing.T) {
	debs := map[[32]byte]Deb{{1}: labDeb(OldVersion)}
	for _, root := range []string{"/", "", "relative/root"} {
		if _, err := NewRecordingInstaller(t.TempDir(), root, debs); err == nil {
			t.Errorf("a recorder of .debs for sysroot %q was made", root)
		}
	}
	if _, err := NewRecordingInstaller(t.TempDir(), "/", nil); err != nil {
		t.Errorf("a recorder that writes no status refused /: %v", err)
	}
}

// WriteFix makes the same bytes in two directories (what render's pods
// rely on to rebuild the package render signed), padded to about the size
// asked, and refuses a negative padding.
func TestWriteFixIsReproducible(t *testing.T) {
	const padding = 300 << 10
	a, err := WriteFix(t.TempDir(), padding)
	if err != nil {
		t.Fatal(err)
	}
	b, err := WriteFix(t.TempDir(), padding)
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Error("two builds of the fix differ")
	}
	if len(ba) < padding || len(ba) > padding+4<<10 {
		t.Errorf("fix of %d bytes for %d bytes of padding", len(ba), padding)
	}
	if filepath.Base(a) != labDeb(NewVersion).fileName() {
		t.Errorf("fix named %s", filepath.Base(a))
	}
	if left, _ := os.ReadDir(filepath.Dir(a)); len(left) != 1 {
		t.Errorf("the build left %d files in its directory, want the .deb alone (its scratch files removed)", len(left))
	}
	data := readTarGz(t, readAr(t, ba)[2].body)
	if pad := data["./"+labDeb(NewVersion).paddingPath()]; len(pad) != padding {
		t.Errorf("the fix installs %d bytes of padding, want %d", len(pad), padding)
	}
	if _, err := WriteFix(t.TempDir(), -1); err == nil || !strings.Contains(err.Error(), "padding -1") {
		t.Errorf("negative padding: %v", err)
	}
}

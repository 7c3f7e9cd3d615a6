package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
)

// startAgentOfWorld starts an agent on w's state directory and sysroot
// whose certificate comes from w's PKI, so it trusts what w signs: its
// verifier, with w's roots and CRLs and k = 2, is the one that decides.
func startAgentOfWorld(t *testing.T, w *applyWorld) {
	t.Helper()
	m := w.pki.Issue(t, applyZone, trust.RoleAgent)
	if err := trust.WriteKeyFile(filepath.Join(w.state, "node.key"), m.Key); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(w.state, "node.crt"), string(trust.EncodeCertificatesPEM(m.Chain...)))
	startNodeCmd(t, trust.RoleAgent, "--state", w.state, "--root", w.rootsFile, "--crl", w.crls, "--zone", applyZone,
		"--threshold", "2", "--sysroot", w.root, "--listen", "/ip4/127.0.0.1/tcp/0", "--require-tool-pins=false")
}

// While an agent holds the state directory, apply hands the envelope to it:
// the agent installs into its sysroot through its journal (history shows
// it), and apply prints what it prints offline.
func TestApplyThroughDaemon(t *testing.T) {
	var outs [2]string
	for i, viaDaemon := range []bool{true, false} {
		w := newApplyWorld(t)
		env := w.envelope(t, w.announcement(t, 1))
		if viaDaemon {
			startAgentOfWorld(t, w)
		}
		out, err := w.apply(t, env)
		if err != nil {
			t.Fatalf("apply (daemon %v): %v\n%s", viaDaemon, err, out)
		}
		if got := w.version(t); got != "2.0/hello 2.0" {
			t.Fatalf("after apply (daemon %v): %s\n%s", viaDaemon, got, out)
		}
		txs := w.historyJSON(t) // through the daemon while it runs
		if tx := txs[len(txs)-1]; tx.Plan.AnnouncementID != "PNT-2026-0001" || tx.Root != w.root {
			t.Errorf("history (daemon %v) ends with %+v, want the install of PNT-2026-0001 into %s", viaDaemon, tx, w.root)
		}
		if viaDaemon {
			if !strings.Contains(out, "(by the patchnet daemon at "+node.APISocket(w.state)+")") {
				t.Errorf("apply does not say the daemon did it:\n%s", out)
			}
			again, err := w.apply(t, env)
			if err != nil || !strings.Contains(again, "does not apply") {
				t.Errorf("applying again through the daemon: %v\n%s", err, again)
			}
		}
		outs[i] = normalizeApply(out, w)
	}
	if outs[0] != outs[1] {
		t.Errorf("apply through the daemon printed\n%s\noffline\n%s", outs[0], outs[1])
	}
}

var (
	verifyingRE = regexp.MustCompile(`(?m)^verifying (\S+)( \(by the patchnet daemon at \S+\))? \.\.\.$`)
	signedByRE  = regexp.MustCompile(`(?m)^  signed by .*$`)
	sha256RE    = regexp.MustCompile(`sha256 [0-9a-f]{64}`)
	debSizeRE   = regexp.MustCompile(`\(\d+ bytes, sha256`)
)

// normalizeApply replaces what differs between two worlds and between the
// daemon and offline: paths, digests, transaction ids, the signers' names,
// and who verifies.
func normalizeApply(out string, w *applyWorld) string {
	out = verifyingRE.ReplaceAllString(out, "verifying ENVELOPE ...")
	out = signedByRE.ReplaceAllString(out, "  signed by SIGNERS")
	// Each world builds its own .deb: its digest differs, and its size by a
	// few bytes with the compressed timestamps in it.
	out = sha256RE.ReplaceAllString(out, "sha256 SUM")
	out = debSizeRE.ReplaceAllString(out, "(SIZE bytes, sha256")
	out = strings.ReplaceAll(out, w.debs["2.0"], "DEB")
	out = strings.ReplaceAll(out, filepath.Dir(w.debs["2.0"]), "DEBS")
	return normalizeRollback(out, w)
}

// The daemon verifies with its own verifier, whatever the client was told
// to trust: a forged envelope is refused with the verifier's error, which
// is trust.ErrUntrusted on the client's side too, and nothing is
// installed or recorded.
func TestApplyThroughDaemonRefusesForgedEnvelope(t *testing.T) {
	w := newApplyWorld(t)
	startAgentOfWorld(t, w)
	other := newApplyWorld(t) // another PKI, of the same zone name
	forged := other.envelope(t, w.announcement(t, 1))
	// The client is pointed at the forger's root: only the daemon's verdict counts.
	out, err := runCommand(t, newApplyCmd(), forged, "--root", other.rootsFile, "--crl", other.crls, "--zone", applyZone,
		"--sysroot", w.root, "--state", w.state, "--artifact", w.debs["2.0"])
	if !errors.Is(err, trust.ErrUntrusted) || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("apply of a forged envelope through the daemon: %v, want the verifier's refusal\n%s", err, out)
	}
	if strings.Contains(out, "accepted") || strings.Contains(out, "installed") {
		t.Errorf("forged envelope got past verification:\n%s", out)
	}
	if got := w.version(t); got != "1.0/hello 1.0" {
		t.Errorf("host changed: %s", got)
	}
	if txs := w.historyJSON(t); len(txs) != 1 {
		t.Errorf("journal has %d transactions, want only the setup's", len(txs))
	}
	// The real envelope still installs: the forgery recorded nothing.
	if out, err := w.apply(t, w.envelope(t, w.announcement(t, 1))); err != nil {
		t.Fatalf("apply of the genuine envelope after the forgery: %v\n%s", err, out)
	}
	// Raw API: bad input is named.
	c, err := node.DialAPI(t.Context(), w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name string
		req  node.APIApplyRequest
		want string
	}{
		{"relative artifact", node.APIApplyRequest{Envelope: []byte("{}"), Artifact: "pkg.deb"}, `artifact "pkg.deb" is not an absolute path`},
		{"bad mode", node.APIApplyRequest{Envelope: []byte("{}"), Mode: "yolo"}, `mode "yolo" is not apply, notify or log`},
		{"not an envelope", node.APIApplyRequest{Envelope: []byte("{}")}, "malformed"},
	} {
		err := c.Apply(t.Context(), tc.req, func(node.APIApplyEvent) { t.Errorf("%s: answered with lines", tc.name) })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

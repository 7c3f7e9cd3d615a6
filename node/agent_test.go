package node

import (
	"strings"
	"testing"

	"github.com/patchnet/patchnet/updates"
)

// The archive method has no target of its own: an agent unpacks an archive
// update only into the prefix its [install.prefixes] names for one of the
// update's packages, and refuses it (finally, not as a fetch to retry)
// when none is configured (the workflow reports it as refused).
func TestArchiveInstallsOnlyIntoConfiguredPrefix(t *testing.T) {
	a := &updates.Announcement{ID: "PNT-1",
		Affected: []updates.Affected{{Package: updates.Package{Ecosystem: "generic", Name: "other"}}, {Package: updates.Package{Ecosystem: "generic", Name: "app"}}},
		Patchnet: updates.Patchnet{Artifact: &updates.Artifact{Method: updates.MethodArchive}}}
	w := &Workflow{}
	if _, err := w.archivePrefix(a); err == nil || !strings.Contains(err.Error(), "[install.prefixes]") {
		t.Fatalf("no prefix configured: %v, want a refusal naming [install.prefixes]", err)
	}
	w.Prefixes = map[string]string{"app": "/opt/app"}
	if p, err := w.archivePrefix(a); err != nil || p != "/opt/app" {
		t.Fatalf("archivePrefix = %q, %v; want /opt/app", p, err)
	}
	a.Patchnet.Artifact.Method = updates.MethodDpkg
	if p, err := w.archivePrefix(a); err != nil || p != "" {
		t.Fatalf("a dpkg update got prefix %q, %v", p, err)
	}
	bad := DefaultConfig()
	bad.Install.Prefixes = map[string]string{"app": "relative/dir"}
	if err := bad.Install.validate(); err == nil {
		t.Error("a relative prefix passed validation")
	}
}

package node

import (
	"context"
	"errors"
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

// A sysroot whose package database is missing (or unreadable) makes every
// package look absent: the workflow must not settle "does not apply" on
// that, for good, but fail in a way the daemon retries.
func TestUnknownPackagesAreNotDoesNotApply(t *testing.T) {
	a := &updates.Announcement{ID: "PNT-1",
		Affected: []updates.Affected{{Package: updates.Package{Ecosystem: "Debian:12", Name: "openssl"}}},
		Patchnet: updates.Patchnet{Version: 1, Artifact: &updates.Artifact{Method: updates.MethodDpkg}}}
	var reported []Step
	w := &Workflow{Sysroot: t.TempDir(), Hooks: WorkflowHooks{Report: func(_ *updates.Accepted, s Step) { reported = append(reported, s) }}}
	err := w.Run(context.Background(), &updates.Accepted{Announcement: a})
	var retry *RetryableError
	if !errors.As(err, &retry) || !strings.Contains(err.Error(), "holds no package database") {
		t.Fatalf("Run = %v, want a retryable error naming the missing package database", err)
	}
	if len(reported) != 0 {
		t.Errorf("steps reported %+v, want none (no outcome)", reported)
	}
}

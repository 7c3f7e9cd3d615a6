package sysinfo_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/patchnet/patchnet/sysinfo"
)

func TestPackageDatabases(t *testing.T) {
	tests := []struct {
		root string
		want []string
	}{
		{"alpine-3.20", []string{"/lib/apk/db/installed"}},
		{"debian-12", []string{"/var/lib/dpkg/status"}},
		{"distroless-debian-12", []string{"/var/lib/dpkg/status.d"}},
		{"rhel-8", []string{"/var/lib/rpm/Packages"}},
		{"rocky-9", []string{"/var/lib/rpm/rpmdb.sqlite"}},
		{"sles-15", []string{"/usr/lib/sysimage/rpm/Packages.db"}},
		{"", nil}, // an empty directory
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			dir := t.TempDir()
			if tt.root != "" {
				dir = filepath.Join("testdata", "roots", tt.root)
			}
			got, err := sysinfo.PackageDatabases(dir)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("PackageDatabases(%s) = %q, %v; want %q", dir, got, err, tt.want)
			}
		})
	}
	if _, err := sysinfo.PackageDatabases(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("PackageDatabases of a missing directory succeeded")
	}
}

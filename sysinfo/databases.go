package sysinfo

import (
	"fmt"
	"os"
	"slices"
)

// PackageDatabases lists the package databases Collect reads software from
// that exist under the filesystem root dir ("" means "/"): dpkg's status
// file or status.d directory, an rpm database, apk's installed database.
// Each is an absolute path inside dir ("/var/lib/dpkg/status"). None means
// an inventory of dir lists no software whatever is installed there, so an
// empty package list says nothing about what is installed.
func PackageDatabases(dir string) ([]string, error) {
	if dir == "" {
		dir = "/"
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening root: %w", err)
	}
	defer root.Close()
	var found []string
	for _, p := range slices.Concat([]string{dpkgStatusPath, dpkgStatusDir}, rpmDBPaths, []string{apkInstalledPath}) {
		_, err := root.Stat(p)
		switch {
		case isNotExist(err):
		case err != nil:
			return found, fmt.Errorf("checking package database /%s: %w", p, err)
		default:
			found = append(found, "/"+p)
		}
	}
	return found, nil
}

// PackageDatabaseNames names the package databases PackageDatabases looks
// for, for a person: what a root without any lacks.
const PackageDatabaseNames = "dpkg status (/var/lib/dpkg/status or status.d), an rpm database (/usr/lib/sysimage/rpm or /var/lib/rpm) or apk's installed database (/lib/apk/db/installed)"

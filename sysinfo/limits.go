package sysinfo

// Bounds on what the parsers accept. Package databases are written by root,
// but an inventory may be taken of an untrusted image (--root), so every
// input is bounded and an input past a bound is an error, not a truncation.
const (
	// maxLineBytes bounds one line of a dpkg status, apk installed,
	// os-release, /etc/services or /proc/net file. The longest real lines are
	// dpkg Description and Conffiles entries, a few KiB at most.
	maxLineBytes = 256 << 10

	// maxFieldBytes bounds a field that the inventory keeps (name, version,
	// maintainer, ...). Real values are under 200 bytes.
	maxFieldBytes = 4 << 10

	// maxPackages bounds the packages one database may list. Large real
	// installations have under 10,000.
	maxPackages = 200_000

	// maxSockets bounds the sockets read from one /proc/net file.
	maxSockets = 1_000_000

	// maxSmallFileBytes bounds files read whole: os-release, machine-id,
	// DMI and /proc single-value files.
	maxSmallFileBytes = 64 << 10

	// maxStatusDFiles bounds the files read from dpkg's status.d directory
	// (distroless images keep one per package).
	maxStatusDFiles = maxPackages

	// rpmMaxIndexEntries and rpmMaxData bound one rpm package header, as
	// rpm's own lib/header_internal.h does (HEADER_DATA_MAX for the data;
	// the index bound is looser than rpm's, which counts tags).
	rpmMaxIndexEntries = 0x0000ffff
	rpmMaxData         = 0x0fffffff
)

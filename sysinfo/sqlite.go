package sysinfo

// go-rpmdb's SQLite backend opens the database through database/sql under
// the driver name "sqlite" and leaves registering one to its user. modernc's
// is pure Go, so patchnet builds without cgo.
import _ "modernc.org/sqlite"

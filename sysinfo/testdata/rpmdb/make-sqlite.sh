#!/bin/sh
# Builds the fixture packages in specs/ with rpmbuild and installs them with
# rpm into a fresh root, then copies the resulting SQLite rpm database
# (rpm 4.16+'s default backend, and the only one Debian's rpm 4.18 writes)
# to OUTDIR/rpmdb.sqlite. sysinfo's tests run it to check the committed
# fixture still matches what the real tools produce.
# Usage: make-sqlite.sh OUTDIR
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for spec in "$here"/specs/*.spec; do
	rpmbuild --quiet --define "_topdir $work/build" -bb "$spec" >/dev/null
done
mkdir -p "$work/root"
db=/usr/lib/sysimage/rpm
rpm --root "$work/root" --dbpath "$db" --define '_db_backend sqlite' --initdb
rpm --root "$work/root" --dbpath "$db" --define '_db_backend sqlite' -i --nodeps \
	--ignoreos --ignorearch "$work"/build/RPMS/*/*.rpm 2>/dev/null
mkdir -p "$out"
cp "$work/root$db/rpmdb.sqlite" "$out/rpmdb.sqlite"

#!/usr/bin/env bash
# README's main job, on embedded defaults, in a temporary directory:
#   1. a zone's PKI: root CA → zone CA "demo" → a publisher, two supernodes
#      and an agent; a CRL; `cert verify` and `openssl verify` agree;
#   2. a vulnerable package (hello-patchnet 1.0) installed with real dpkg
#      into a sandbox root that looks like Debian 12;
#   3. a fix (2.0) announced, signed by the publisher and co-signed by both
#      supernodes (k = 2), applied offline with `patchnet apply`;
#   4. history, rollback to 1.0, and a revoked certificate refused.
# Nothing outside the temporary directory is touched.
set -euo pipefail
pn=$(readlink -f "${1:-bin/patchnet}")
work=$(mktemp -d "${TMPDIR:-/tmp}/patchnet-quickstart.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
cd "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "PKI: root CA, zone CA 'demo', four node certificates"
"$pn" ca init-root --out root --name "quickstart root CA"
"$pn" ca init-zone --root root --zone demo --out zone-demo
for n in publisher:publisher sn1:supernode sn2:supernode agent1:agent; do
  name=${n%%:*} role=${n##*:}
  "$pn" cert request --role "$role" --zone demo --out "$name"
  "$pn" ca sign --ca zone-demo "$name/node.csr"
done
"$pn" ca crl --ca zone-demo
"$pn" cert show sn1/node.crt
"$pn" cert verify --root root/root.crt --crl zone-demo/zone.crl sn1/node.crt
if command -v openssl >/dev/null; then
  openssl x509 -in sn1/node.crt -out sn1/leaf.pem
  openssl verify -CAfile root/root.crt -untrusted zone-demo/zone.crt sn1/leaf.pem
fi

step "a vulnerable package in a sandbox Debian 12 root"
mkpkg() { # name version text
  mkdir -p "pkg-$2/DEBIAN" "pkg-$2/usr/share/hello-patchnet"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: quickstart <qs@patchnet.invalid>\nDescription: patchnet quickstart package\n' "$1" "$2" > "pkg-$2/DEBIAN/control"
  echo "$3" > "pkg-$2/usr/share/hello-patchnet/greeting"
  dpkg-deb --root-owner-group --build "pkg-$2" "$1_$2_all.deb" >/dev/null
}
mkpkg hello-patchnet 1.0-1 "hello from the vulnerable 1.0"
mkpkg hello-patchnet 2.0-1 "hello from the fixed 2.0"
mkdir -p sys/etc sys/var/lib/dpkg/info sys/var/lib/dpkg/updates sys/var/lib/dpkg/triggers
: > sys/var/lib/dpkg/status
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n' > sys/etc/os-release
dpkg --root="$work/sys" --force-not-root -i hello-patchnet_1.0-1_all.deb >/dev/null
cat sys/usr/share/hello-patchnet/greeting

step "announce the fix, sign (publisher) and co-sign (two supernodes)"
"$pn" update new --id PNQS-2026-0001 --version 1 \
  --artifact hello-patchnet_2.0-1_all.deb --method dpkg \
  --ecosystem Debian:12 --package hello-patchnet --fixed 2.0-1 \
  --cve CVE-2026-0001 --summary "hello-patchnet: greeting too vulnerable" --out ann.json
"$pn" update sign --key publisher/node.key --cert publisher/node.crt ann.json --out update.dsse
"$pn" update sign --key sn1/node.key --cert sn1/node.crt --root root/root.crt update.dsse --out update.dsse
"$pn" update sign --key sn2/node.key --cert sn2/node.crt --root root/root.crt update.dsse --out update.dsse
"$pn" update show --root root/root.crt update.dsse

step "apply offline: verify, match, check the artifact, install, journal"
# No signature counts without current CRLs of its zone CA and of the root.
crls="--crl zone-demo/zone.crl --crl root/root.crl"
"$pn" apply update.dsse --artifact hello-patchnet_2.0-1_all.deb \
  --root root/root.crt $crls --zone demo --threshold 2 \
  --sysroot "$work/sys" --state state
cat sys/usr/share/hello-patchnet/greeting
"$pn" history --state state

step "applying it again changes nothing: the host is already fixed"
"$pn" apply update.dsse --artifact hello-patchnet_2.0-1_all.deb \
  --root root/root.crt $crls --zone demo --threshold 2 --sysroot "$work/sys" --state state

step "roll back to 1.0"
tx=$("$pn" history --state state --format json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n 1)
"$pn" rollback "$tx" --state state
cat sys/usr/share/hello-patchnet/greeting
"$pn" history --state state

step "wrong software: the 1.0 package passed off as the fix is refused"
if "$pn" apply update.dsse --artifact hello-patchnet_1.0-1_all.deb \
  --root root/root.crt $crls --zone demo --threshold 2 --sysroot "$work/sys" --state state; then
  echo "quickstart: a wrong artifact was installed" >&2; exit 1
fi

step "revoke supernode sn2: one co-signer short of k = 2, the update is refused"
"$pn" ca revoke --ca zone-demo sn2/node.crt
"$pn" ca crl --ca zone-demo
if "$pn" cert verify --root root/root.crt $crls sn2/node.crt; then
  echo "quickstart: revoked certificate verified" >&2; exit 1
fi
if "$pn" apply update.dsse --artifact hello-patchnet_2.0-1_all.deb $crls \
  --root root/root.crt --zone demo --threshold 2 --sysroot "$work/sys" --state state; then
  echo "quickstart: an update co-signed by a revoked supernode was installed" >&2; exit 1
fi
cat sys/usr/share/hello-patchnet/greeting
step "quickstart finished: every step ran for real in $work (removed on exit unless KEEP=1)"

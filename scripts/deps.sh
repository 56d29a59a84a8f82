#!/usr/bin/env bash
# Installs the Debian packages that a make target needs, when they are missing.
#
#   scripts/deps.sh GROUP...        e.g. scripts/deps.sh test image
#   scripts/deps.sh --list GROUP... prints the packages of the groups
#
# The only list of packages in the repository: the Makefile's targets and .ci/run call this script,
# so what CI installs is what a user's `make demo` / `make test` installs. To add a package, add it to
# its group's line below.
#
# Packages already installed (dpkg-query) are skipped; when something is missing it runs
# `apt-get update` and `apt-get install` as root, through sudo otherwise, and fails with one line
# naming the packages when neither is possible.
set -euo pipefail

group_packages() {
  case $1 in
    # cargo's linker and the C code of -sys crates (ring).
    build) echo "gcc libc6-dev make pkg-config" ;;
    # make demo: journal files written by systemd's own systemd-journal-remote; journalctl counts them.
    demo) echo "systemd systemd-journal-remote" ;;
    # make test: real clients (curl, openssl s_client) in the HTTP tests, journals written by
    # systemd's tools (logs-journald tests), setpriv/unshare from util-linux, headless Chromium
    # and its WebDriver for the viewer's browser tests (tests/browser).
    test) echo "ca-certificates curl openssl systemd systemd-journal-remote util-linux chromium chromium-driver" ;;
    # make image / image-test: the CA bundle copied into the images, curl and chroot/unshare to run
    # the exported images, openssl for the test's service-account certificate, systemd-journal-remote
    # for the journal the journald image serves in the test.
    image) echo "ca-certificates curl openssl coreutils util-linux systemd-journal-remote" ;;
    # The image builders (deploy/image/build.sh picks one; CONTAINER_TOOL=docker needs neither).
    podman) echo "podman" ;;
    buildah) echo "buildah" ;;
    # make install-test: systemd-analyze verify on the installed unit, readelf (stripped binary),
    # a journal for the installed binary to serve, curl to read it.
    install) echo "binutils systemd systemd-journal-remote curl" ;;
    *) return 1 ;;
  esac
}

list=false
if [ "${1:-}" = "--list" ]; then
  list=true
  shift
fi
[ $# -gt 0 ] || { echo "usage: $0 [--list] GROUP... (build demo test image podman buildah install)" >&2; exit 2; }

wanted=()
for group in "$@"; do
  packages=$(group_packages "$group") || { echo "$0: unknown group '$group' (build demo test image podman buildah install)" >&2; exit 2; }
  for package in $packages; do
    case " ${wanted[*]-} " in *" $package "*) ;; *) wanted+=("$package") ;; esac
  done
done
if $list; then
  echo "${wanted[*]}"
  exit 0
fi

missing=()
for package in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "$0: missing Debian packages: ${missing[*]} (neither root nor sudo: run 'apt-get install ${missing[*]}' as root)" >&2
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "$0: missing Debian packages: ${missing[*]} (no apt-get on this machine: install their equivalents)" >&2
  exit 1
}

echo "$0: installing ${missing[*]}" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2

#!/usr/bin/env bash
# make install: installs logs-journald on a faasd host (docs/install.md).
#
#   make build && sudo make install [PREFIX=/usr/local] [DESTDIR=] [SYSTEMDUNITDIR=/etc/systemd/system]
#
# Installs the release binary to $DESTDIR$PREFIX/bin, the unit to $DESTDIR$SYSTEMDUNITDIR with its
# paths rewritten for $PREFIX, the documentation to $DESTDIR$PREFIX/share/doc/faas-logs, and the
# environment file to $DESTDIR/etc/default/logs-journald unless one is already there (it holds the
# operator's settings). It does not start anything: then `systemctl daemon-reload` and
# `systemctl enable --now logs-journald`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
unitdir=${SYSTEMDUNITDIR:-/etc/systemd/system}
binary=${BINARY:-${CARGO_TARGET_DIR:-$root/target}/release/logs-journald}
case $prefix in /*) ;; *) echo "$0: PREFIX must be absolute: $prefix" >&2; exit 2 ;; esac
[ -x "$binary" ] || { echo "$0: $binary missing: run 'make build' first" >&2; exit 1; }

install -D -m 0755 "$binary" "$destdir$prefix/bin/logs-journald"

# The unit in the repository names /usr/local (ExecStart, Documentation): point it at $prefix.
unit="$destdir$unitdir/logs-journald.service"
install -d -m 0755 "$(dirname "$unit")"
sed "s|/usr/local/|${prefix%/}/|g" "$here/logs-journald.service" >"$unit.tmp"
chmod 0644 "$unit.tmp"
mv "$unit.tmp" "$unit"

env_file="$destdir/etc/default/logs-journald"
if [ -e "$env_file" ]; then
  echo "$env_file exists: kept (the new defaults are in $here/logs-journald.env)" >&2
else
  install -D -m 0644 "$here/logs-journald.env" "$env_file"
fi

doc="$destdir$prefix/share/doc/faas-logs"
install -d -m 0755 "$doc/backends"
install -m 0644 "$root"/docs/*.md "$doc/"
install -m 0644 "$root"/docs/backends/*.md "$doc/backends/"

echo "installed: $destdir$prefix/bin/logs-journald $unit $env_file $doc/"

#!/bin/bash
# A private systemd-journald for tests and demos: it runs in its own mount namespace, so its
# sockets and journal files live under DIR and the host's /run and /var/log stay untouched.
#
#   journald-sandbox.sh start DIR      start it; prints its PID (journal files: DIR/log/<machine-id>/)
#   journald-sandbox.sh log DIR ID CMD...  run CMD with its stdout logged as SYSLOG_IDENTIFIER=ID
#   journald-sandbox.sh rotate DIR     ask it to rotate its files (SIGUSR2)
#   journald-sandbox.sh stop DIR       stop it
#
# Needs root (unshare --mount, mount --bind), util-linux, and systemd's
# /lib/systemd/systemd-journald and systemd-cat (Debian package: systemd).
set -euo pipefail
usage() { sed -n '2,11p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1
dir=$(realpath -m "$2")
shift 2
journald=/lib/systemd/systemd-journald
pidof_sandbox() { cat "$dir/journald.pid"; }

case "$action" in
start)
  [ -x "$journald" ] || { echo "$journald missing: install the apt package systemd" >&2; exit 1; }
  mkdir -p "$dir/sockets" "$dir/log"
  # journald writes straight to /var/log/journal when this marker exists (no /run buffering).
  touch "$dir/sockets/flushed"
  cat > "$dir/journald.conf" <<'CONF'
[Journal]
Storage=persistent
ReadKMsg=no
ForwardToSyslog=no
ForwardToWall=no
ForwardToConsole=no
RateLimitIntervalSec=0
SyncIntervalSec=1s
CONF
  unshare --mount --propagation private bash -c '
    set -e
    mount -t tmpfs tmpfs /run
    mkdir -p /run/systemd/journal /run/log /var/log/journal
    mount --bind "$1/sockets" /run/systemd/journal
    mount --bind "$1/log" /var/log/journal
    mount --bind "$1/journald.conf" /etc/systemd/journald.conf
    exec '"$journald" _ "$dir" >"$dir/journald.out" 2>&1 &
  echo $! > "$dir/journald.pid"
  for _ in $(seq 100); do [ -S "$dir/sockets/stdout" ] && break; sleep 0.1; done
  [ -S "$dir/sockets/stdout" ] || { echo "journald did not start:" >&2; cat "$dir/journald.out" >&2; exit 1; }
  pidof_sandbox
  ;;
log)
  [ $# -ge 2 ] || usage
  id=$1; shift
  exec nsenter --mount="/proc/$(pidof_sandbox)/ns/mnt" -- systemd-cat -t "$id" -- "$@"
  ;;
rotate)
  kill -USR2 "$(pidof_sandbox)"
  ;;
stop)
  pid=$(pidof_sandbox)
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  ;;
*) usage ;;
esac

#!/usr/bin/env bash
# make install-test: `make install` into temporary DESTDIRs, then checks what it installed:
# files and modes, a stripped binary that runs, the unit's paths rewritten for PREFIX, the
# operator's env file kept on a second install, and `systemd-analyze verify` on the installed unit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
scripts/deps.sh build install
make --no-print-directory build >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() {
  echo "ok: $*"
  passed=$((passed + 1))
}

# 1. The default prefix.
dest="$work/default"
make --no-print-directory install DESTDIR="$dest" >/dev/null
bin="$dest/usr/local/bin/logs-journald"
unit="$dest/etc/systemd/system/logs-journald.service"
env_file="$dest/etc/default/logs-journald"
for f in "$bin" "$unit" "$env_file" "$dest/usr/local/share/doc/faas-logs/backends/journald.md"; do
  [ -f "$f" ] || fail "$f not installed"
done
[ "$(stat -c %a "$bin")" = 755 ] && [ "$(stat -c %a "$unit")" = 644 ] && [ "$(stat -c %a "$env_file")" = 644 ] ||
  fail "modes: $(stat -c '%a %n' "$bin" "$unit" "$env_file")"
if readelf -S "$bin" | grep -q '\.debug_\|\.symtab'; then fail "$bin is not stripped"; fi
version=$("$bin" --version)
[ "$version" = "logs-journald $(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)" ] ||
  fail "--version printed '$version'"
grep -qx 'ExecStart=/usr/local/bin/logs-journald' "$unit" || fail "ExecStart in $unit"
grep -qx 'EnvironmentFile=-/etc/default/logs-journald' "$unit" || fail "EnvironmentFile in $unit"
ok "install DESTDIR=… : binary ($(stat -c %s "$bin") bytes, stripped, $version), unit, env file, docs"

# systemd-analyze verify resolves ExecStart on this machine: check a copy of the installed unit
# whose ExecStart points into DESTDIR (everything else unchanged).
mkdir -p "$work/verify"
sed "s|^ExecStart=/usr/local/|ExecStart=$dest/usr/local/|" "$unit" >"$work/verify/logs-journald.service"
out=$(systemd-analyze verify --man=no "$work/verify/logs-journald.service" 2>&1) ||
  fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warned: $out"
ok "systemd-analyze verify: no errors, no warnings"

# The installed binary starts with the installed env file, as the unit's EnvironmentFile= gives it
# (address and port moved to loopback and an ephemeral port for the test), on a real journal.
journal="$work/journal"
mkdir -p "$journal"
printf '__REALTIME_TIMESTAMP=%s\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_TRANSPORT=journal\nPRIORITY=6\nSYSLOG_IDENTIFIER=openfaas-fn:figlet\n_PID=4101\nMESSAGE=figlet: installed\n\n' \
  "$(( $(date +%s%N) / 1000 - 1000000 ))" |
  LC_ALL=C.UTF-8 /lib/systemd/systemd-journal-remote --output="$journal/system.journal" - >/dev/null 2>&1
: >"$work/server.log"  # exists before the loop below reads it
(
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
  exec "$bin" --address 127.0.0.1 --port 0 --log-format json --journal-dir "$journal"
) >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
addr=""
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.*"addr":"\(127\.0\.0\.1:[0-9]*\)".*/\1/p' "$work/server.log" | head -n 1)
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; fail "the installed binary exited at start"; }
  sleep 0.1
done
[ -n "$addr" ] || fail "the installed binary did not listen"
lines=$(curl -fsS --max-time 10 "http://$addr/system/logs?name=figlet&tail=1") || fail "GET /system/logs"
grep -q '"text":"figlet: installed"' <<<"$lines" || fail "unexpected lines: $lines"
kill -TERM "$server"
status=0
wait "$server" || status=$?
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM"
ok "installed binary + env file served the journal's line and stopped cleanly on SIGTERM"

# 2. Another prefix: the unit follows it; a second install keeps the operator's env file.
dest="$work/opt"
make --no-print-directory install DESTDIR="$dest" PREFIX=/opt/faas-logs >/dev/null
unit="$dest/etc/systemd/system/logs-journald.service"
[ -x "$dest/opt/faas-logs/bin/logs-journald" ] || fail "PREFIX=/opt/faas-logs: no binary"
grep -qx 'ExecStart=/opt/faas-logs/bin/logs-journald' "$unit" || fail "PREFIX: $(grep ExecStart= "$unit")"
grep -q 'file:///opt/faas-logs/share/doc/faas-logs/backends/journald.md' "$unit" || fail "PREFIX: Documentation="
[ -f "$dest/opt/faas-logs/share/doc/faas-logs/backends/journald.md" ] || fail "PREFIX: docs"
if grep -q /usr/local "$unit"; then fail "PREFIX: /usr/local left in $unit"; fi
echo 'FAAS_LOGS_PORT=9999' >"$dest/etc/default/logs-journald"
make --no-print-directory install DESTDIR="$dest" PREFIX=/opt/faas-logs >/dev/null 2>&1
grep -qx 'FAAS_LOGS_PORT=9999' "$dest/etc/default/logs-journald" || fail "the operator's env file was overwritten"
ok "install PREFIX=/opt/faas-logs: ExecStart and Documentation follow PREFIX; env file kept on reinstall"

echo "install-test: $passed passed, 0 failed"

#!/bin/bash
# make demo: write sample function logs into a private journal directory with systemd's own
# systemd-journal-remote, keep appending a line every 2 s, and serve the directory with
# logs-journald, so real output can be seen on a machine without faasd.
#
#   bash crates/logs-journald/tools/demo.sh            # serves on :8080 (FAAS_LOGS_PORT to change)
#   DEMO_DIR=/tmp/j bash crates/logs-journald/tools/demo.sh
#
# Then:  curl -N 'http://127.0.0.1:8080/system/logs?name=figlet&follow=true'
#        curl 'http://127.0.0.1:8080/system/logs?name=nodeinfo&tail=3'
#
# Needs: cargo; the Debian packages of scripts/deps.sh's `build` and `demo` groups
# (systemd-journal-remote, ...), installed here when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
"$root/scripts/deps.sh" build demo
remote=/lib/systemd/systemd-journal-remote
dir=${DEMO_DIR:-$root/target/journal-demo}
port=${FAAS_LOGS_PORT:-8080}
ns=openfaas-fn

# One export-format field: KEY=value, or the binary form (KEY\n<u64 LE length><bytes>\n)
# when the value holds a newline (https://systemd.io/JOURNAL_EXPORT_FORMATS/).
field() {
  local key=$1 value=$2
  if [[ $value == *$'\n'* ]]; then
    local n=${#value} i le=""
    for i in 0 1 2 3 4 5 6 7; do le+=$(printf '\\x%02x' $(( (n >> (8 * i)) & 255 ))); done
    printf '%s\n' "$key"; printf "$le"; printf '%s\n' "$value"
  else
    printf '%s=%s\n' "$key" "$value"
  fi
}
# entry USEC FUNCTION PID MESSAGE [PRIORITY]
entry() {
  field __REALTIME_TIMESTAMP "$1"
  field _BOOT_ID 0123456789abcdef0123456789abcdef
  field _TRANSPORT journal   # what faasd's collector uses: PRIORITY 6 = stdout, 3 = stderr
  field PRIORITY "${5:-6}"
  field SYSLOG_IDENTIFIER "$ns:$2"
  field _PID "$3"
  field MESSAGE "$4"
  printf '\n'
}
now_us() { echo $(( $(date +%s%N) / 1000 )); }
write() { LC_ALL=C.UTF-8 "$remote" --output="$1" - >/dev/null 2>&1; }

rm -rf "$dir"; mkdir -p "$dir"
t0=$(( $(now_us) - 600000000 ))   # ten minutes ago
# An older, archived file (as after a rotation) and the active one.
{
  for i in $(seq 0 9); do
    entry $(( t0 + i * 20000000 )) figlet $(( 4101 + i % 2 )) "figlet: rendered banner #$i"
    entry $(( t0 + i * 20000000 + 5000000 )) nodeinfo 4201 "nodeinfo: uptime $(( 100 + i * 20 ))s"
  done
} | write "$dir/system@demo-0001.journal"
{
  t1=$(( t0 + 300000000 ))
  entry "$t1" figlet 4101 "figlet: a stack trace follows
  at render (figlet.js:12)
  at handle (index.js:40)" 3
  entry $(( t1 + 1000000 )) figlet 4102 "figlet: big payload $(printf 'x%.0s' $(seq 1 1200))"
  for i in $(seq 10 14); do
    entry $(( t1 + i * 10000000 )) figlet $(( 4101 + i % 2 )) "figlet: rendered banner #$i"
  done
  entry $(( t1 + 200000000 )) nodeinfo 4201 "nodeinfo: ready"
} | write "$dir/system.journal"

# Keep appending while the provider runs (what follow=true shows live).
(
  n=0
  while sleep 2; do
    n=$(( n + 1 ))
    entry "$(now_us)" figlet $(( 4101 + n % 2 )) "figlet: live request $n" | write "$dir/system.journal"
  done
) &
appender=$!
trap 'kill $appender 2>/dev/null || true' EXIT

echo "Journal: $dir ($(journalctl --directory="$dir" -q 2>/dev/null | wc -l) entries; journalctl --directory=$dir -f to watch)"
echo "Try:  curl -N 'http://127.0.0.1:$port/system/logs?name=figlet&follow=true'"
echo "      curl 'http://127.0.0.1:$port/system/logs?name=nodeinfo&tail=3'"
cd "$root"
# The dev profile: on a fresh machine the first `make demo` compiles in a fraction of the (LTO)
# release build's time, and most of what it compiles is reused by `make test`.
cargo run --locked -q -p logs-journald -- --journal-dir "$dir" --port "$port"

#!/usr/bin/env bash
# make image-test: checks the images that deploy/image/build.sh built, for real.
#
#   deploy/image/test.sh [BINARY...]     default: logs-journald logs-kubernetes logs-loki
#
# For each image: its metadata (non-root user, entrypoint, OCI labels, size <= IMAGE_MAX_BYTES,
# default 20 MB); then its root filesystem is exported and its entrypoint run from it, as the
# image's user (chroot --userspec=65532:65532; `unshare --map-root-user --root` without root or
# sudo): `--version` prints the workspace version, and the server answers GET /healthz on a
# loopback port, started as a container would start it:
#   logs-journald    reads a journal written by systemd-journal-remote into the image's
#                    /var/log/journal (its default directory) and serves its lines
#   logs-kubernetes  in-cluster configuration (service-account token and CA file, KUBERNETES_SERVICE_*
#                    pointing at an unused loopback port)
#   logs-loki        an https Loki URL on an unused loopback port: starts only with the image's CA bundle
# Finally `<tool> run --version` is tried; where the runtime cannot start containers (crun cannot
# set rlimits inside some sandboxes) that is printed as a note: the chroot run above proves the
# same root filesystem and entrypoint.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
# shellcheck source=deploy/image/lib.sh
. "$here/lib.sh"

binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(logs-journald logs-kubernetes logs-loki)
prefix=${IMAGE_PREFIX:-faas-logs}
max_bytes=${IMAGE_MAX_BYTES:-20000000}
tool=$(container_tool)
scripts/deps.sh image
version=$(workspace_version)
license=$(workspace_field license)
chroot_bin=$(command -v chroot)
unshare_bin=$(command -v unshare)
remote=/lib/systemd/systemd-journal-remote

work=$(mktemp -d)
server=""
containers=()
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  local force=-f
  [ "$tool" != buildah ] || force=""  # buildah rm has no -f
  for c in "${containers[@]-}"; do [ -z "$c" ] || "$tool" rm $force "$c" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# image_exec ROOTFS [VAR=VALUE...] -- COMMAND...: runs COMMAND from ROOTFS as the image's user,
# with only the given environment (as a container runtime would).
image_exec() {
  local rootfs=$1 vars=()
  shift
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  image_command "$rootfs" "${vars[@]}"
  "${command[@]}" "$@"
}

# image_command ROOTFS [VAR=VALUE...]: sets `command` to the prefix that runs a program from
# ROOTFS as the image's user (an array, so that `"${command[@]}" ... &` gives the program's pid).
image_command() {
  local rootfs=$1
  shift
  if [ "$(id -u)" -eq 0 ]; then
    command=(env -i "$@" "$chroot_bin" --userspec=65532:65532 "$rootfs")
  elif sudo -n true 2>/dev/null; then
    command=(sudo env -i "$@" "$chroot_bin" --userspec=65532:65532 "$rootfs")
  else
    # Unprivileged: the caller's uid, mapped to root in a user namespace, never the host's root.
    command=(env -i "$@" "$unshare_bin" --map-root-user --root="$rootfs")
  fi
}

inspect() { # IMAGE GO-TEMPLATE (podman/docker: image config; buildah: OCI config)
  case $tool in
    buildah) buildah inspect --type image --format "${2//.Config/.OCIv1.Config}" "$1" ;;
    *) "$tool" image inspect --format "$2" "$1" ;;
  esac
}

# export_rootfs IMAGE DIR: the image's root filesystem, unpacked into DIR.
export_rootfs() {
  mkdir -p "$2"
  case $tool in
    buildah)
      local c mnt
      c=$(buildah from "$1")
      containers+=("$c")
      mnt=$(buildah mount "$c")
      cp -a "$mnt/." "$2/"
      buildah umount "$c" >/dev/null
      ;;
    *)
      local c
      c=$("$tool" create "$1")
      containers+=("$c")
      "$tool" export "$c" | tar -x -C "$2"
      ;;
  esac
}

# serve ROOTFS LOG BINARY VAR=VALUE... -- ARGS...: starts the entrypoint on 127.0.0.1 and an
# ephemeral port; sets `server` (its pid) and `addr` (from its JSON "Listening." log line).
serve() {
  local rootfs=$1 log=$2 binary=$3
  shift 3
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  image_command "$rootfs" "${vars[@]}"
  : >"$log"  # exists before the loop below reads it
  "${command[@]}" "/usr/local/bin/$binary" --address 127.0.0.1 --port 0 --log-format json "$@" \
    >"$log" 2>&1 &
  server=$!
  addr=""
  local i
  for i in $(seq 1 100); do
    addr=$(sed -n 's/.*"addr":"\(127\.0\.0\.1:[0-9]*\)".*/\1/p' "$log" | head -n 1)
    [ -n "$addr" ] && return 0
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; fail "$binary exited at start"; }
    sleep 0.1
  done
  cat "$log" >&2
  fail "$binary did not listen within 10 s"
}

# stop LOG: SIGTERM, then the server must exit 0 (graceful shutdown).
stop() {
  local status=0
  kill -TERM "$server"
  wait "$server" || status=$?
  server=""
  [ "$status" -eq 0 ] || { cat "$1" >&2; fail "exit status $status after SIGTERM"; }
}

# A journal with one function's lines, written by systemd's own tool (export format).
write_journal() {
  local dir=$1 now
  now=$(( $(date +%s%N) / 1000 ))
  mkdir -p "$dir"
  for i in 1 2 3; do
    printf '__REALTIME_TIMESTAMP=%s\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_TRANSPORT=journal\nPRIORITY=6\nSYSLOG_IDENTIFIER=openfaas-fn:figlet\n_PID=4101\nMESSAGE=figlet: from the image %s\n\n' \
      $(( now - 60000000 + i * 1000000 )) "$i"
  done | LC_ALL=C.UTF-8 "$remote" --output="$dir/system.journal" - >/dev/null 2>&1
  chmod -R a+rX "$dir"
}

# An in-cluster service account, as the kubelet mounts it: token, namespace and a CA certificate.
write_service_account() {
  local dir=$1
  mkdir -p "$dir"
  printf 'test-token' >"$dir/token"
  printf 'openfaas' >"$dir/namespace"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=kubernetes \
    -keyout "$work/sa.key" -out "$dir/ca.crt" >/dev/null 2>&1
  chmod -R a+rX "$dir"
}

runtime_skipped=()
for binary in "${binaries[@]}"; do
  image="$prefix/$binary:$version"
  echo "== $image"

  # Metadata.
  user=$(inspect "$image" '{{.Config.User}}')
  [ "$user" = 65532:65532 ] || fail "$image: user '$user', want 65532:65532"
  entrypoint=$(inspect "$image" '{{range .Config.Entrypoint}}<{{.}}>{{end}}')
  [ "$entrypoint" = "</usr/local/bin/$binary>" ] || fail "$image: entrypoint $entrypoint"
  for label in "source=https://" "version=$version" "licenses=$license" "title=$binary"; do
    key=org.opencontainers.image.${label%%=*}
    got=$(inspect "$image" "{{index .Config.Labels \"$key\"}}")
    case $got in "${label#*=}"*) ;; *) fail "$image: label $key='$got', want ${label#*=}..." ;; esac
  done

  rootfs="$work/$binary/rootfs"
  export_rootfs "$image" "$rootfs"
  if [ "$tool" = buildah ]; then size=$(du -sb "$rootfs" | cut -f1); else size=$(inspect "$image" '{{.Size}}'); fi
  [ "$size" -le "$max_bytes" ] || fail "$image: $size bytes > $max_bytes"
  [ ! -e "$rootfs/bin/sh" ] || fail "$image: has a shell"
  [ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ] || fail "$image: no CA bundle"
  grep -q '^nonroot:x:65532:65532:' "$rootfs/etc/passwd" || fail "$image: no nonroot user in /etc/passwd"

  # The entrypoint, from the image's own root filesystem.
  got=$(image_exec "$rootfs" -- "/usr/local/bin/$binary" --version)
  [ "$got" = "$binary $version" ] || fail "$image: --version printed '$got'"

  log="$work/$binary.log"
  case $binary in
    logs-journald)
      write_journal "$rootfs/var/log/journal"
      serve "$rootfs" "$log" "$binary" HOME=/home/nonroot --
      lines=$(curl -fsS --max-time 10 "http://$addr/system/logs?name=figlet&tail=2") ||
        fail "$image: /system/logs failed"
      echo "$lines"
      [ "$(grep -c '"text":"figlet: from the image [23]' <<<"$lines")" -eq 2 ] ||
        fail "$image: want the journal's last two figlet lines"
      ;;
    logs-kubernetes)
      write_service_account "$rootfs/var/run/secrets/kubernetes.io/serviceaccount"
      serve "$rootfs" "$log" "$binary" HOME=/home/nonroot \
        KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=9 --
      ;;
    logs-loki)
      serve "$rootfs" "$log" "$binary" HOME=/home/nonroot -- --loki-url https://127.0.0.1:9
      ;;
    *)
      serve "$rootfs" "$log" "$binary" HOME=/home/nonroot --
      ;;
  esac
  health=$(curl -fsS --max-time 10 "http://$addr/healthz") || fail "$image: GET /healthz failed"
  echo "GET /healthz on $addr: $health"
  stop "$log"

  # The container runtime itself, where it can start containers here.
  if [ "$tool" != buildah ]; then
    if out=$("$tool" run --rm --network none "$image" --version 2>&1); then
      [ "$out" = "$binary $version" ] || fail "$image: '$tool run --version' printed '$out'"
      echo "$tool run --version: $out"
    else
      echo "note: '$tool run' cannot start containers here ($(tail -n 1 <<<"$out")); the image was proven above by running its exported root filesystem"
      runtime_skipped+=("$binary")
    fi
  fi
  echo "ok: $image, $size bytes, user $user, ran from its root filesystem"
done
[ ${#runtime_skipped[@]} -eq 0 ] || echo "'$tool run' could not start: ${runtime_skipped[*]} (checked from the exported root filesystems instead)"
echo "image-test: ${#binaries[@]} passed, 0 failed"

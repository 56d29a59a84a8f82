#!/usr/bin/env bash
# make image: one OCI image per provider, faas-logs/<binary>:<workspace version>, built FROM scratch
# (nothing is pulled, so it works offline).
#
#   deploy/image/build.sh [BINARY...]     default: logs-journald logs-kubernetes logs-loki
#
# Environment:
#   CONTAINER_TOOL  podman (default when installed; installed when neither it nor buildah is),
#                   buildah, or docker
#   IMAGE_PREFIX    repository prefix of the image names (default: faas-logs)
#   IMAGE_SOURCE    org.opencontainers.image.source label (default: the project's repository URL)
#
# For each binary it stages target/image/<binary>/ (Containerfile + rootfs/: the stripped release
# binary, the shared libraries `ldd` lists for it and the dynamic loader, the CA bundle of the
# build machine, /etc/passwd and /etc/group from deploy/image/rootfs/) and builds it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(logs-journald logs-kubernetes logs-loki)
prefix=${IMAGE_PREFIX:-faas-logs}
source_url=${IMAGE_SOURCE:-https://github.com/faas-logs/faas-logs}
target=${CARGO_TARGET_DIR:-$root/target}

# shellcheck source=deploy/image/lib.sh
. "$here/lib.sh"
tool=$(container_tool)
scripts/deps.sh build image
case $tool in podman | buildah) scripts/deps.sh "$tool" ;; esac

version=$(workspace_version)
license=$(workspace_field license)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
[ -n "$version" ] && [ -n "$license" ] || { echo "$0: no version/license in Cargo.toml [workspace.package]" >&2; exit 1; }

packages=()
for binary in "${binaries[@]}"; do packages+=(-p "$binary"); done
cargo build --release --locked "${packages[@]}"

ca_bundle=/etc/ssl/certs/ca-certificates.crt
for binary in "${binaries[@]}"; do
  bin="$target/release/$binary"
  context="$target/image/$binary"
  rm -rf "$context"
  mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/etc/ssl/certs" "$context/rootfs/home/nonroot"
  mkdir -m 1777 "$context/rootfs/tmp"
  install -m 0755 "$bin" "$context/rootfs/usr/local/bin/$binary"
  cp "$here"/rootfs/etc/passwd "$here"/rootfs/etc/group "$here"/rootfs/etc/nsswitch.conf "$context/rootfs/etc/"
  cp -L "$ca_bundle" "$context/rootfs/etc/ssl/certs/ca-certificates.crt"
  chown 65532:65532 "$context/rootfs/home/nonroot" 2>/dev/null || true

  # The shared libraries the binary links, at the paths the loader finds them on this machine,
  # and the loader itself (the ELF interpreter, e.g. /lib64/ld-linux-x86-64.so.2).
  libraries=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
  [ -n "$libraries" ] || { echo "$0: ldd found no libraries for $bin" >&2; exit 1; }
  for library in $libraries; do
    mkdir -p "$context/rootfs$(dirname "$library")"
    cp -L "$library" "$context/rootfs$library"
  done

  description=$(sed -n 's/^description[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "crates/$binary/Cargo.toml" | sed -e 's/["\\]//g' -e 's/[&|]/\\&/g')
  sed -e "s|@BINARY@|$binary|g" -e "s|@VERSION@|$version|g" -e "s|@LICENSE@|$license|g" \
      -e "s|@REVISION@|$revision|g" -e "s|@SOURCE@|$source_url|g" -e "s|@DESCRIPTION@|$description|g" \
      "$here/Containerfile" > "$context/Containerfile"

  image="$prefix/$binary:$version"
  echo "== $image ($tool, context $context)" >&2
  case $tool in
    podman) podman build --format oci --tag "$image" --file "$context/Containerfile" "$context" ;;
    buildah) buildah build --format oci --tag "$image" --file "$context/Containerfile" "$context" ;;
    docker) docker build --tag "$image" --file "$context/Containerfile" "$context" ;;
  esac
done

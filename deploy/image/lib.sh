# Shared by deploy/image/build.sh and deploy/image/test.sh (sourced, run from the repository root).

# The container tool: $CONTAINER_TOOL (podman, buildah or docker), else podman or buildah,
# whichever is installed, else podman (scripts/deps.sh installs it).
container_tool() {
  local tool=${CONTAINER_TOOL:-}
  if [ -z "$tool" ]; then
    if command -v podman >/dev/null 2>&1; then tool=podman
    elif command -v buildah >/dev/null 2>&1; then tool=buildah
    else tool=podman
    fi
  fi
  case $tool in
    podman | buildah | docker) echo "$tool" ;;
    *) echo "CONTAINER_TOOL=$tool: use podman, buildah or docker" >&2; return 1 ;;
  esac
}

# A string field of Cargo.toml's [workspace.package] (version, license).
workspace_field() {
  sed -n '/^\[workspace\.package\]/,/^\[/s/^'"$1"'[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1
}

workspace_version() { workspace_field version; }

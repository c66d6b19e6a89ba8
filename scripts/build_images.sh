#!/usr/bin/env bash
# `make images`: the functions, processing and MinIO images from docker/'s Dockerfiles, built
# with buildah (no daemon) under compose's names (localhost/mediavault-<image>:dev). The base
# images come from scripts/build_base_images.sh (pulled, or stand-ins built once per machine);
# buildah's layer cache makes a rebuild after a change in mediavault/ redo only what follows it.
#   scripts/build_images.sh [functions|processing|minio ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.env
export CONTAINERS_CONF="$PWD/docker/containers.conf"

log() { printf '\033[1m[images]\033[0m %s\n' "$*" >&2; }

scripts/build_base_images.sh

images=("$@")
[ ${#images[@]} -gt 0 ] || images=(functions processing minio)
for image in "${images[@]}"; do
  extra=()
  if [ "$image" = minio ]; then
    extra+=(--build-arg "MINIO_VERSION=$MINIO_VERSION")
    # The host's Go module and build caches: the modules MinIO needs are there already (the
    # local stack builds the same version), and a rebuild compiles nothing new.
    if command -v go >/dev/null; then
      mods=$(go env GOMODCACHE) cache=$(go env GOCACHE)
      mkdir -p "$mods" "$cache"
      extra+=(--volume "$mods:/go/pkg/mod" --volume "$cache:/root/.cache/go-build")
    fi
  fi
  started=$(date +%s)
  buildah build --quiet --pull=never --format docker --layers \
    -f "docker/Dockerfile.$image" -t "localhost/mediavault-$image:dev" "${extra[@]}" . >/dev/null
  log "mediavault-$image:dev built in $(( $(date +%s) - started )) s"
done

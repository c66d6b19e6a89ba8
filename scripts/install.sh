#!/usr/bin/env bash
# Install what the local stack and the tests need, once; reuse whatever is already present.
#   - PostgreSQL, ffmpeg and exiftool from Debian's packages
#   - MinIO, nsqd and nsqlookupd built with Go at pinned versions, kept in $MEDIAVAULT_TOOLS_DIR
#   - Debian's nginx unpacked into $MEDIAVAULT_TOOLS_DIR (tests of docker/compose.yaml's gateway)
#   - the Python virtualenv .venv with the pinned requirements and this package
#   - the web app's packages (web/node_modules) with `npm ci` from web/package-lock.json
#   - the real-API test tools (a throwaway Kubernetes API server, pulumi), scripts/build_kube_tools.sh
#   - the container tools of `make images` and the image and compose tests: buildah, podman and
#     what they run with from Debian's packages, Docker Compose v2 built with Go into
#     $MEDIAVAULT_TOOLS_DIR (tools/compose), the base images (scripts/build_base_images.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.env

TOOLS_DIR="${MEDIAVAULT_TOOLS_DIR:-$HOME/.cache/mediavault/tools}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3

log() { printf '\033[1m[install]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_debian_packages() {
  local missing=()
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
  command -v setpriv >/dev/null || missing+=(util-linux)
  # The decoders' seccomp filter: Debian's libseccomp bindings, for Debian's python3.
  /usr/bin/python3 -c 'import seccomp' 2>/dev/null || missing+=(python3-seccomp)
  # The worker removes the place from the originals share links hand out.
  command -v exiftool >/dev/null || missing+=(libimage-exiftool-perl)
  # The share page is tested in a real headless browser.
  command -v chromium >/dev/null || missing+=(chromium)
  # The certificates of the real-API tests' throwaway Kubernetes API server.
  command -v openssl >/dev/null || missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Build Go programs into $TOOLS_DIR/bin unless the stamp says this version is already there.
#   build_go_tool STAMP VERSION "BINARIES..." COMMAND...
build_go_tool() {
  local name="$1" version="$2" binaries="$3"; shift 3
  local stamp="$TOOLS_DIR/bin/.$name.version" present=yes binary
  for binary in $binaries; do [ -x "$TOOLS_DIR/bin/$binary" ] || present=no; done
  if [ "$present" = yes ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return
  fi
  log "building $binaries $version (once; reused from $TOOLS_DIR afterwards)"
  mkdir -p "$TOOLS_DIR/bin"
  "$@"
  echo "$version" > "$stamp"
}

install_minio() {
  GOBIN="$TOOLS_DIR/bin" go install "github.com/minio/minio@$MINIO_VERSION"
}

install_nsq() {
  (cd tools/nsq && GOBIN="$TOOLS_DIR/bin" go install \
    github.com/nsqio/nsq/apps/nsqd github.com/nsqio/nsq/apps/nsqlookupd)
}

# Debian's nginx binary, unpacked rather than installed: the tests run it on loopback with
# docker/nginx.conf, and installing the package would start a system-wide server on port 80.
install_nginx() {
  local dir="$TOOLS_DIR/nginx" version tmp
  version=$(apt-cache policy nginx 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    as_root apt-get update -qq
    version=$(apt-cache policy nginx | awk '/Candidate:/ {print $2}')
  fi
  [ -x "$dir/usr/sbin/nginx" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ] && return
  log "unpacking Debian's nginx $version into $dir"
  tmp=$(mktemp -d)
  # apt downloads as its sandbox user when run as root: let it write there.
  if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
  (cd "$tmp" && apt-get download -q "nginx=$version" >/dev/null)
  rm -rf "$dir" && mkdir -p "$dir"
  dpkg-deb -x "$tmp"/nginx_*.deb "$dir"
  rm -rf "$tmp"
  echo "$version" > "$dir/.version"
}

# buildah and podman (daemonless), runc (crun refuses these machines' cgroup layout), netavark
# and aardvark-dns (container networks with service names), mmdebstrap (stand-in base images).
install_container_tools() {
  local missing=() tool
  for tool in buildah podman skopeo runc catatonit mmdebstrap netavark aardvark-dns iptables; do
    dpkg-query -W -f '${Status}' "$tool" 2>/dev/null | grep -q 'ok installed' || missing+=("$tool")
  done
  dpkg-query -W -f '${Status}' containernetworking-plugins 2>/dev/null | grep -q 'ok installed' \
    || missing+=(containernetworking-plugins)
  [ ${#missing[@]} -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" uidmap >/dev/null
}

# Docker Compose v2, for the tests that run docker/compose.yaml against podman's Docker API.
install_compose() {
  (cd tools/compose && CGO_ENABLED=0 go build -trimpath \
    -ldflags="-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$TOOLS_DIR/bin/docker-compose" github.com/docker/compose/v2/cmd)
}

install_python() {
  local stamp=.venv/.requirements.sha256
  local want
  want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  log "creating .venv with the pinned requirements"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q -r requirements-dev.txt
  .venv/bin/pip install -q --no-deps -e .
  echo "$want" > "$stamp"
}

install_web() {
  local stamp=web/node_modules/.package-lock.sha256
  local want
  want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [ -d web/node_modules ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  command -v npm >/dev/null || { log "Node.js 20 with npm is needed for the web app"; exit 1; }
  log "npm ci (web app packages from web/package-lock.json)"
  npm --prefix web ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
}

install_debian_packages
build_go_tool minio "$MINIO_VERSION" minio install_minio
build_go_tool nsq "$NSQ_VERSION-$(sha256sum tools/nsq/go.sum | cut -c1-12)" "nsqd nsqlookupd" install_nsq
# Only the tests need these (`make test` passes --test-tools): a first `make dev` stays quick.
if [ "${1:-}" = "--test-tools" ]; then
  MEDIAVAULT_TOOLS_DIR="$TOOLS_DIR" scripts/build_kube_tools.sh
  install_nginx
fi
# `make images` needs the container tools; `make test` also compose and the base images.
if [ "${1:-}" = "--test-tools" ] || [ "${1:-}" = "--container-tools" ]; then
  install_container_tools
fi
if [ "${1:-}" = "--test-tools" ]; then
  build_go_tool compose "$COMPOSE_VERSION-$(sha256sum tools/compose/go.sum | cut -c1-12)" \
    docker-compose install_compose
  MEDIAVAULT_TOOLS_DIR="$TOOLS_DIR" scripts/build_base_images.sh
fi
install_python
install_web

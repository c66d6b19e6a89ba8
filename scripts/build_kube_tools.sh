#!/usr/bin/env bash
# Build the tools of the real-API tests (issue 15) once into $MEDIAVAULT_TOOLS_DIR/bin, reused
# afterwards: kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (k8s.io/kubernetes
# through tools/kube's replace directives) with the etcd they are tested with (Debian's 3.4 lacks the
# watch progress notifications their watches rely on), kwok, the pulumi CLI and
# pulumi-resource-kubernetes. Called by scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.env

TOOLS_DIR="${MEDIAVAULT_TOOLS_DIR:-$HOME/.cache/mediavault/tools}"
BIN="$TOOLS_DIR/bin"
# Small binaries, and a build cache keyed on content rather than on this checkout's path.
GO_BUILD_FLAGS=(-trimpath)
STRIP="-s -w"

log() { printf '\033[1m[install]\033[0m %s\n' "$*" >&2; }

# build STAMP VERSION "BINARIES..." COMMAND...: run COMMAND unless the stamp names VERSION.
build() {
  local name="$1" version="$2" binaries="$3"; shift 3
  local stamp="$BIN/.$name.version" present=yes binary started
  for binary in $binaries; do [ -x "$BIN/$binary" ] || present=no; done
  if [ "$present" = yes ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return
  fi
  log "building $binaries $version (once; reused from $TOOLS_DIR afterwards)"
  mkdir -p "$BIN"
  started=$(date +%s)
  "$@"
  echo "$version" > "$stamp"
  log "built $binaries in $(( $(date +%s) - started )) s"
}

module_stamp() { echo "$1-$(cat "tools/$2/go.mod" "tools/$2/go.sum" | sha256sum | cut -c1-12)"; }

build_kube() {
  local v="$KUBERNETES_VERSION" minor
  minor=$(echo "$v" | cut -d. -f2)
  local x="-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1"
  x+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  x+=" -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1"
  x+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  # One invocation: the five commands share most of their packages.
  (cd tools/kube && GOBIN="$BIN" go install "${GO_BUILD_FLAGS[@]}" -ldflags="$STRIP $x" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3)
  # go install names it after its module path without the major version suffix.
  mv "$BIN/server" "$BIN/etcd"
}

build_kwok() {
  GOBIN="$BIN" go install "${GO_BUILD_FLAGS[@]}" -ldflags="$STRIP" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # The stage files that make the fake node run pods (readiness, Job completion) live in the module.
  local src
  src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$TOOLS_DIR/kwok-stages"
  mkdir -p "$TOOLS_DIR/kwok-stages"
  local stage
  for stage in "$src"/kustomize/stage/{node,pod,volume}/fast/*.yaml; do
    [ "$(basename "$stage")" = kustomization.yaml ] || cp "$stage" "$TOOLS_DIR/kwok-stages/"
  done
  chmod -R u+w "$TOOLS_DIR/kwok-stages"
}

build_pulumi() {
  (cd tools/pulumi && GOBIN="$BIN" go install "${GO_BUILD_FLAGS[@]}" \
    -ldflags="$STRIP -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_CLI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}

build_pulumi_kubernetes() {
  # The module on the proxy lacks the generated embeds; build a copy of it with them added.
  local work="$TOOLS_DIR/src/pulumi-kubernetes" src cmd
  src=$(go mod download -json \
    "github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_PROVIDER_MODULE" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$work"
  mkdir -p "$work"
  cp tools/pulumi-kubernetes/go.mod tools/pulumi-kubernetes/go.sum tools/pulumi-kubernetes/tools.go "$work/"
  cp -r "$src" "$work/provider"
  chmod -R u+w "$work/provider"
  cmd="$work/provider/cmd/pulumi-resource-kubernetes"
  python3 scripts/kube_tools_embed.py "$cmd" "$PULUMI_KUBERNETES_PROVIDER_VERSION"
  (cd "$work" && GOBIN="$BIN" go install "${GO_BUILD_FLAGS[@]}" -ldflags="$STRIP \
    -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_PROVIDER_VERSION" \
    github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes)
  rm -rf "$work"
}

build kube "$(module_stamp "$KUBERNETES_VERSION" kube)" \
  "kube-apiserver kube-controller-manager kube-scheduler kubectl etcd" build_kube
build kwok "$KWOK_VERSION" kwok build_kwok
build pulumi "$(module_stamp "$PULUMI_CLI_VERSION" pulumi)" pulumi build_pulumi
build pulumi-kubernetes "$(module_stamp "$PULUMI_KUBERNETES_PROVIDER_VERSION" pulumi-kubernetes)" \
  pulumi-resource-kubernetes build_pulumi_kubernetes

#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the Go module proxy into a
# per-version cache outside the clone, once. Prints the folder that holds them (the
# KUBEBUILDER_ASSETS convention). KUBEBUILDER_ASSETS, when set, is used as it is.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$here/go.mod")
binaries=(etcd kube-apiserver kube-controller-manager)

have_all() {
  local dir=$1 b
  shift
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for b in etcd kube-apiserver; do
    if [ ! -x "$KUBEBUILDER_ASSETS/$b" ]; then
      echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable '$b'" >&2
      exit 1
    fi
  done
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

cache=${OVIM_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ovim-operator/k8s}/$k8s_version
if have_all "$cache" "${binaries[@]}"; then
  echo "$cache"
  exit 0
fi

fail() {
  cat >&2 <<MSG
error: cannot build the control-plane binaries ($1).
They are built with the 'go' command from the Go module proxy (Kubernetes $k8s_version, etcd $etcd_version).
Instead, point KUBEBUILDER_ASSETS at a folder holding executable 'etcd', 'kube-apiserver'
and 'kube-controller-manager' of a recent Kubernetes release, e.g.
  export KUBEBUILDER_ASSETS=/path/to/k8s/bin
MSG
  exit 1
}

command -v go >/dev/null 2>&1 || fail "no 'go' command on PATH"

# Build into a temporary folder next to the cache and rename at the end, so an interrupted
# build never leaves a half-filled cache that a later run would trust.
mkdir -p "$(dirname "$cache")"
tmp=$(mktemp -d "$cache.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

echo "building control plane: Kubernetes $k8s_version, etcd $etcd_version -> $cache" >&2
start=$(date +%s)
cd "$here"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"
go mod download >&2 || fail "'go mod download' failed; is the Go module proxy reachable?"
go build -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version" \
  -o "$tmp/etcd" go.etcd.io/etcd/server/v3 >&2 || fail "go build of etcd failed"
for b in kube-apiserver kube-controller-manager; do
  go build -ldflags "$ldflags" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b" >&2 || fail "go build of $b failed"
done

rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "built control plane in $(( $(date +%s) - start ))s" >&2
echo "$cache"

#!/usr/bin/env bash
# Builds the real control plane the Kubernetes tests start (kube-apiserver 1.37 and etcd 3.7)
# from the Go modules pinned in tests/control-plane/go.{mod,sum}, into a cache outside git:
#   $INFORMER_CONTROL_PLANE_BIN (default ~/.cache/informer/control-plane/bin)
# Skips the build when the binaries were built from the same go.mod, go.sum, Go version and flags.
# Nothing prebuilt is downloaded: the Go module proxy serves sources only.
set -euo pipefail
mod_dir="$(cd "$(dirname "$0")/../tests/control-plane" && pwd)"
bin="${INFORMER_CONTROL_PLANE_BIN:-$HOME/.cache/informer/control-plane/bin}"
mkdir -p "$bin"

kube_version=$(sed -n 's#^[[:space:]]*k8s.io/kubernetes \(v[0-9.]*\).*#\1#p' "$mod_dir/go.mod" | head -1)
major=${kube_version#v}; major=${major%%.*}
minor=${kube_version#v*.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${kube_version} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"

stamp=$( (cat "$mod_dir/go.mod" "$mod_dir/go.sum"; go version; echo "$ldflags") | sha256sum | cut -d' ' -f1)
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ "$(cat "$bin/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "control plane: up to date in $bin ($("$bin/etcd" --version | head -1); kube-apiserver ${kube_version})"
    exit 0
fi

start=$(date +%s)
cd "$mod_dir"
export CGO_ENABLED=0
go build -trimpath -ldflags "$ldflags" -o "$bin/kube-apiserver.new" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -ldflags "-s -w" -o "$bin/etcd.new" go.etcd.io/etcd/server/v3
mv "$bin/kube-apiserver.new" "$bin/kube-apiserver"
mv "$bin/etcd.new" "$bin/etcd"
echo "$stamp" > "$bin/.stamp"
echo "control plane: built kube-apiserver ${kube_version} and $("$bin/etcd" --version | head -1) into $bin in $(( $(date +%s) - start )) s"

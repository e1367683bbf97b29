#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok, kubectl, helm, kstatus, launcher) from Go modules and
# prints the directory holding the binaries on stdout. Progress goes to stderr.
#
# Binaries are cached under
#   ${GONOGO_CLUSTER_CACHE:-$HOME/.cache/gonogo/cluster}/<k8s-version>-<hash>/bin
# where <hash> covers every input of the build (go.mod, go.sum, this script,
# the Go sources and kwok stages under cmd/), so a second run prints the
# directory in well under a second.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

log() { echo "cluster/build.sh: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "Go is not installed or not on PATH."
  log "The integration tests build a Kubernetes control plane from Go modules and need Go >= 1.26:"
  log "  install it from https://go.dev/dl/ (or your distribution's golang package) and put 'go' on PATH."
  exit 1
fi

go_needed=$(awk '$1 == "go" { print $2; exit }' go.mod)
go_have=$(go env GOVERSION)
go_have=${go_have#go}
if [[ "$(printf '%s\n%s\n' "$go_needed" "$go_have" | sort -V | head -n1)" != "$go_needed" ]]; then
  log "Go $go_have is too old: tests/cluster/go.mod needs Go >= $go_needed. Install a newer Go from https://go.dev/dl/."
  exit 1
fi

# The pinned Kubernetes version is whatever go.mod requires.
k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' go.mod)
[[ "$k8s_version" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || { log "cannot read the k8s.io/kubernetes version from go.mod"; exit 1; }
k8s_major=${BASH_REMATCH[1]}
k8s_minor=${BASH_REMATCH[2]}
helm_version=$(awk '$1 == "helm.sh/helm/v4" { print $2; exit }' go.mod)

hash=$( { cat go.mod go.sum build.sh; find cmd -type f \( -name '*.go' -o -name '*.yaml' \) | LC_ALL=C sort | xargs cat; go env GOVERSION GOOS GOARCH; } \
  | sha256sum | cut -c1-12)
cache_root=${GONOGO_CLUSTER_CACHE:-$HOME/.cache/gonogo/cluster}
out="$cache_root/$k8s_version-$hash"

if [[ -f "$out/bin/.complete" ]]; then
  echo "$out/bin"
  exit 0
fi

mkdir -p "$cache_root"
# Serialise concurrent builds of the same inputs (two test processes at once).
exec 9>"$cache_root/.lock"
flock 9
if [[ -f "$out/bin/.complete" ]]; then
  echo "$out/bin"
  exit 0
fi

# Stamp the versions the way Kubernetes' hack/lib/version.sh does, so /version
# and `kubectl version` report the pinned release. The build date is the
# release's tag time, keeping the binaries reproducible.
build_date=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes 2>/dev/null || echo 1970-01-01T00:00:00Z)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$k8s_major -X $pkg.gitMinor=$k8s_minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
ldflags+=" -X helm.sh/helm/v4/internal/version.version=$helm_version"

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT

log "building Kubernetes $k8s_version control plane into $out"
log "a cold build (empty Go caches) takes 10-20 minutes on 2 cores; relinking from a warm Go cache under a minute"
start=$SECONDS
# One `go build` for every main package, so shared packages compile once.
# -v names each package as it compiles; that becomes a progress line a minute.
progress() {
  local n=0 downloads=0 last=$SECONDS line
  while IFS= read -r line; do
    if [[ "$line" == "go: downloading "* ]]; then
      ((downloads++ == 0)) && log "downloading modules from the Go module proxy"
    elif [[ "$line" =~ ^[A-Za-z0-9._~/-]+$ ]]; then
      n=$((n + 1))
      if ((SECONDS - last >= 60)); then
        last=$SECONDS
        log "$n packages compiled, $((SECONDS - start))s elapsed"
      fi
    else
      echo "$line" >&2
    fi
  done
  log "$n packages compiled, $downloads modules downloaded"
}
set +e
CGO_ENABLED=0 go build -v -trimpath -buildvcs=false -ldflags "$ldflags" -o "$tmp/bin/" \
  go.etcd.io/etcd/server/v3 \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  sigs.k8s.io/kwok/cmd/kwok \
  helm.sh/helm/v4/cmd/helm \
  ./cmd/kstatus \
  ./cmd/launcher \
  2>&1 | progress
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
  log "go build failed (exit $status)"
  exit "$status"
fi
# etcd's main package is named after its module directory.
for name in server v3; do
  if [[ -f "$tmp/bin/$name" ]]; then mv "$tmp/bin/$name" "$tmp/bin/etcd"; fi
done
[[ -x "$tmp/bin/etcd" ]] || { log "etcd binary missing from the build output"; exit 1; }
touch "$tmp/bin/.complete"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
log "built in $((SECONDS - start))s"
# Each build is ~550 MB: keep this one and the previous one, and drop
# leftovers of interrupted builds.
ls -dt "$cache_root"/v*-*/ 2>/dev/null | grep -v '\.tmp\.' | tail -n +3 | xargs -r rm -rf
find "$cache_root" -maxdepth 1 -name '*.tmp.*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
echo "$out/bin"

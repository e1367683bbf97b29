#!/usr/bin/env bash
# Builds a real Prometheus server (github.com/prometheus/prometheus/cmd/prometheus)
# from Go modules for the `prometheus` gate's end-to-end test, and prints the
# directory holding the binary on stdout. Progress goes to stderr.
#
# Lean build: the `remove_all_sd` build tag (Prometheus' own plugin switch)
# keeps only static, file and HTTP service discovery, and without the
# `builtinassets` tag no web UI is embedded. No Prometheus source is patched.
#
# The binary is cached under
#   ${GONOGO_PROMETHEUS_CACHE:-$HOME/.cache/gonogo/prometheus}/<version>-<hash>/bin
# where <hash> covers every input of the build (go.mod, go.sum, this script,
# the Go version), so a second run prints the directory in well under a second.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

log() { echo "prometheus/build.sh: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "Go is not installed or not on PATH."
  log "The prometheus gate's end-to-end test builds a real Prometheus from Go modules and needs Go >= 1.26:"
  log "  install it from https://go.dev/dl/ (or your distribution's golang package) and put 'go' on PATH."
  exit 1
fi

go_needed=$(awk '$1 == "go" { print $2; exit }' go.mod)
go_have=$(go env GOVERSION)
go_have=${go_have#go}
if [[ "$(printf '%s\n%s\n' "$go_needed" "$go_have" | sort -V | head -n1)" != "$go_needed" ]]; then
  log "Go $go_have is too old: tests/prometheus/go.mod needs Go >= $go_needed. Install a newer Go from https://go.dev/dl/."
  exit 1
fi

# Prometheus 3.x.y is published as the Go module version v0.3xx.y.
module_version=$(awk '$1 == "github.com/prometheus/prometheus" { print $2; exit }' go.mod)
[[ "$module_version" =~ ^v0\.3([0-9][0-9])\.([0-9]+)$ ]] || { log "cannot read the github.com/prometheus/prometheus version from go.mod"; exit 1; }
version="3.$((10#${BASH_REMATCH[1]})).${BASH_REMATCH[2]}"

hash=$( { cat go.mod go.sum build.sh; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-12)
cache_root=${GONOGO_PROMETHEUS_CACHE:-$HOME/.cache/gonogo/prometheus}
out="$cache_root/v$version-$hash"

if [[ -x "$out/bin/prometheus" && -f "$out/bin/.complete" ]]; then
  echo "$out/bin"
  exit 0
fi

mkdir -p "$cache_root"
# Serialise concurrent builds (two test processes at once).
exec 9>"$cache_root/.lock"
flock 9
if [[ -x "$out/bin/prometheus" && -f "$out/bin/.complete" ]]; then
  echo "$out/bin"
  exit 0
fi

# Stamp the version the way Prometheus' promu does, so `prometheus --version`
# and prometheus_build_info name the pinned release. The build date is the
# release's tag time, keeping the binary reproducible.
build_date=$(go list -m -f '{{.Time.UTC.Format "20060102-15:04:05"}}' github.com/prometheus/prometheus 2>/dev/null || echo 19700101-00:00:00)
ldflags="-s -w"
ldflags+=" -X github.com/prometheus/common/version.Version=$version"
ldflags+=" -X github.com/prometheus/common/version.Branch=v$version"
ldflags+=" -X github.com/prometheus/common/version.BuildUser=gonogo-tests"
ldflags+=" -X github.com/prometheus/common/version.BuildDate=$build_date"

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT

log "building Prometheus $version ($module_version) into $out"
log "a cold build (empty Go caches) takes 2-4 minutes on 2 cores; relinking from a warm Go cache seconds"
start=$SECONDS
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
CGO_ENABLED=0 go build -v -trimpath -buildvcs=false -tags remove_all_sd -ldflags "$ldflags" -o "$tmp/bin/prometheus" \
  github.com/prometheus/prometheus/cmd/prometheus \
  2>&1 | progress
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
  log "go build failed (exit $status)"
  exit "$status"
fi
[[ -x "$tmp/bin/prometheus" ]] || { log "prometheus binary missing from the build output"; exit 1; }
touch "$tmp/bin/.complete"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
log "built in $((SECONDS - start))s"
# Keep this build and the previous one; drop leftovers of interrupted builds.
ls -dt "$cache_root"/v*-*/ 2>/dev/null | grep -v '\.tmp\.' | tail -n +3 | xargs -r rm -rf
find "$cache_root" -maxdepth 1 -name '*.tmp.*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
echo "$out/bin"

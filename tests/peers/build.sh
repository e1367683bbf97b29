#!/usr/bin/env bash
# Installs the peer tools of the offline benchmark (scripts/bench-peers.sh) and prints the
# directory holding them on stdout; progress goes to stderr. Not part of tests/run.sh or CI.
#
#   kube-score   Go, pinned in go.mod (a `tool` directive), built with `go build`
#   checkov      PyPI, pinned in requirements.txt (+ constraints.txt for every dependency),
#   matplotlib   installed into a venv (matplotlib draws the benchmark's plot)
#
# Cached under ${GONOGO_PEERS_CACHE:-$HOME/.cache/gonogo/peers}/<hash>/ where <hash> covers
# every input (go.mod, go.sum, requirements, constraints, this script, Go and Python versions),
# so a second run prints the directory at once. bin/ holds kube-score, checkov and python.
#
# kube-linter (golang.stackrox.io/kube-linter) and polaris (github.com/fairwindsops/polaris)
# are not here: the Go module proxy this project's machines reach refuses both modules
# ("403 Forbidden: This module version is not available"). See BENCHMARKS.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

log() { echo "peers/build.sh: $*" >&2; }

for tool in go python3; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is not on PATH (Go >= $(awk '$1 == "go" { print $2; exit }' go.mod) and Python >= 3.10 are needed)"; exit 1; }
done

hash=$( { cat go.mod go.sum requirements.txt constraints.txt build.sh; go env GOVERSION GOOS GOARCH; python3 --version; } \
  | sha256sum | cut -c1-12)
cache_root=${GONOGO_PEERS_CACHE:-$HOME/.cache/gonogo/peers}
out="$cache_root/$hash"

if [[ -f "$out/bin/.complete" ]]; then
  echo "$out/bin"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
if [[ -f "$out/bin/.complete" ]]; then
  echo "$out/bin"
  exit 0
fi

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

kube_score_version=$(awk '$1 == "github.com/zegl/kube-score" { print $2; exit }' go.mod)
log "building kube-score $kube_score_version"
CGO_ENABLED=0 go build -trimpath -buildvcs=false \
  -ldflags "-s -w -X main.version=$kube_score_version" \
  -o "$tmp/bin/kube-score" github.com/zegl/kube-score/cmd/kube-score >&2

log "installing checkov and matplotlib into a venv (a few minutes)"
# The venv lives at its final path: venvs hard-code their location.
rm -rf "$out/venv"
mkdir -p "$out"
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install --quiet --disable-pip-version-check \
  -r requirements.txt -c constraints.txt >&2
ln -s ../venv/bin/checkov "$tmp/bin/checkov"
# A wrapper, not a symlink: Python finds its venv next to the path it was started by.
printf '#!/bin/sh\nexec "%s" "$@"\n' "$out/venv/bin/python" >"$tmp/bin/python"
chmod +x "$tmp/bin/python"

touch "$tmp/bin/.complete"
rm -rf "$out/bin"
mv "$tmp/bin" "$out/bin"
rmdir "$tmp" 2>/dev/null || true
trap - EXIT
log "done in $((SECONDS - start))s"
# Keep this build and the previous one.
ls -dt "$cache_root"/*/ 2>/dev/null | grep -v '\.tmp\.' | tail -n +3 | xargs -r rm -rf
echo "$out/bin"

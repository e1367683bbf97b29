#!/usr/bin/env bash
# The API server's CPU per Deployment write under the rollout-hold MutatingAdmissionPolicy,
# with N DeploymentReadiness objects in the Deployments' namespace (its binding's paramRef
# selects every one of them, and the API server evaluates the policy once per param).
#
#   GONOGO_CLUSTER_BIN=$(tests/cluster/build.sh) scripts/bench-hold-policy.sh [POLICY.yaml ...]
#
# For each policy file (default: deploy/admission/hold-rollouts.yaml; `none` for no policy) on a
# fresh control plane: installs the CRDs and the policy, N readiness objects (N, default 1000)
# targeting app-0 .. app-<N-1>, then measures kube-apiserver CPU (user+sys from /proc) over
# WRITES (default 40) Deployment writes of each kind: creations (held), pod-template changes
# (held) and annotation changes (not held: the policy's first match condition is false).
# Prints CPU-ms per write (the API server idles at a few ms per second; the idle rate over the
# same time is subtracted).
set -euo pipefail

BIN=${GONOGO_CLUSTER_BIN:?set GONOGO_CLUSTER_BIN (tests/cluster/build.sh prints it)}
N=${N:-1000}
WRITES=${WRITES:-40}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POLICIES=("$@")
[ ${#POLICIES[@]} -gt 0 ] || POLICIES=("$ROOT/deploy/admission/hold-rollouts.yaml")
TICK=$(getconf CLK_TCK)

cpu_ms() { # user+sys of a pid, in ms
  awk -v t="$TICK" '{print ($14 + $15) * 1000 / t}' "/proc/$1/stat"
}

run() {
  local policy=$1 dir pid apiserver k
  dir=$(mktemp -d /tmp/gonogo-hold-bench.XXXXXX)
  mkfifo "$dir/stdin"
  "$BIN/launcher" -dir "$dir/cluster" -nodes 1 < "$dir/stdin" > "$dir/launcher.log" 2>&1 &
  pid=$!
  exec 7> "$dir/stdin"
  for _ in $(seq 120); do [ -f "$dir/cluster/kubeconfig" ] && "$BIN/kubectl" --kubeconfig "$dir/cluster/kubeconfig" get --raw /readyz > /dev/null 2>&1 && break; sleep 1; done
  export KUBECONFIG=$dir/cluster/kubeconfig
  local kubectl="$BIN/kubectl"
  apiserver=$(pgrep -f "kube-apiserver.*$dir" | head -1)
  $kubectl apply --server-side -f "$ROOT/crds/" > /dev/null
  $kubectl wait --for condition=Established crd --all --timeout=60s > /dev/null
  $kubectl create namespace bench > /dev/null
  if [ "$policy" != none ]; then
    $kubectl apply --server-side -f "$policy" > /dev/null
  fi
  for i in $(seq 0 $((N - 1))); do
    printf 'apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: app-%d, namespace: bench}\nspec: {targetRef: {name: app-%d}, items: [{name: image, image: {}}]}\n---\n' "$i" "$i"
  done | $kubectl apply --server-side -f - > /dev/null
  deployment() {
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: bench}\nspec: {replicas: 0, selector: {matchLabels: {app: %s}}, template: {metadata: {labels: {app: %s}}, spec: {containers: [{name: app, image: registry.k8s.io/pause:3.10}]}}}\n' "$1" "$1" "$1"
  }
  # The policy (and its N params) loaded: a targeted creation comes back held.
  if [ "$policy" != none ]; then
    for _ in $(seq 300); do
      [ "$(deployment app-$((N - 1)) | $kubectl create --dry-run=server -o 'jsonpath={.spec.paused}' -f - 2>/dev/null)" = true ] && break
      sleep 0.2
    done
  fi
  sleep 5
  local idle0 idle1 t0 t1
  idle0=$(cpu_ms "$apiserver"); t0=$(date +%s%N); sleep 5
  idle1=$(cpu_ms "$apiserver"); t1=$(date +%s%N)
  local idle_rate # CPU-ms per ms
  idle_rate=$(echo "($idle1 - $idle0) / (($t1 - $t0) / 1000000)" | bc -l)
  measure() { # label, then the writes on stdin-less commands from a function
    local label=$1 fn=$2 c0 c1 s0 s1
    c0=$(cpu_ms "$apiserver"); s0=$(date +%s%N)
    for k in $(seq 0 $((WRITES - 1))); do $fn "$k"; done
    c1=$(cpu_ms "$apiserver"); s1=$(date +%s%N)
    printf '%-32s %-26s %8.1f API-server CPU-ms per write, %6.0f ms wall per write\n' \
      "$(basename "$policy")" "$label" \
      "$(echo "(($c1 - $c0) - $idle_rate * (($s1 - $s0) / 1000000)) / $WRITES" | bc -l)" \
      "$(echo "($s1 - $s0) / 1000000 / $WRITES" | bc -l)"
  }
  create() { deployment "app-$1" | $kubectl create -f - > /dev/null; }
  template() { $kubectl -n bench set env "deployment/app-$1" "V=$RANDOM" > /dev/null; }
  annotate() { $kubectl -n bench annotate "deployment/app-$1" --overwrite "bench=$RANDOM" > /dev/null; }
  measure "create (held)" create
  measure "template change (held)" template
  measure "annotation (not held)" annotate
  exec 7>&-
  wait "$pid" || true
  rm -rf "$dir"
}

echo "N = $N readiness objects in the namespace, $WRITES writes each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in "${POLICIES[@]}"; do run "$p"; done

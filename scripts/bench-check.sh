#!/usr/bin/env bash
# Benchmark `gonogo check` on generated manifest sets: N Deployments in one namespace, each
# with a Service, PodDisruptionBudget, HorizontalPodAutoscaler, Secret, ConfigMap, PVC,
# NetworkPolicy and a DeploymentReadiness (referencing one shared checklist), rendered like
# `helm template` output (with `# Source:` comments), read from standard input.
#
# Usage: scripts/bench-check.sh [N ...]          (default: 1000 5000 10000)
#   GONOGO=path/to/gonogo   use this binary instead of building the release one
#   MODE=baseline           no DeploymentReadiness objects: every Deployment gets the baseline
#   MODE=realistic          the corpus of the peer benchmark (scripts/bench_corpus.py: sidecars,
#                           native sidecars, init containers, a seeded mix of defects) judged by
#                           tests/peers/gonogo-checklist.yaml; scripts/bench-peers.sh compares
#                           the same corpus with other tools
#   KEEP=dir                keep the generated corpora in dir
#   RUNS=n                  run each measurement n times (default 1): median wall and CPU time
#   FORMATS="json table"    output formats to measure (default json): -o sarif, junit, ... cost
#   FLOOR=1                 also time a bare parse of each corpus (benches/parse-floor: the
#                           fastest of the Rust YAML parsers at hand, one thread) and print
#                           gonogo's CPU time as a ratio to it
# Prints, per N and format: documents, input size, wall time, CPU time (user + system), peak
# RSS, the floor's CPU time and the ratio. Issue 18's targets (MODE=realistic, N = 10000):
# < 1 s wall, < 200 MB, CPU within 2x the floor.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 5000 10000)
mode=${MODE:-readiness}

if [ -z "${GONOGO:-}" ]; then
  cargo build --release --quiet --bin gonogo
  GONOGO="${CARGO_TARGET_DIR:-target}/release/gonogo"
fi

# Peak RSS needs GNU time; install it if it is missing (Debian package `time`).
if ! command -v /usr/bin/time >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq time >/dev/null 2>&1 || true
  fi
fi

dir=${KEEP:-$(mktemp -d)}
mkdir -p "$dir"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT

generate() {
  if [ "$mode" = realistic ]; then
    python3 scripts/bench_corpus.py "$1"
    return
  fi
  awk -v n="$1" -v mode="$mode" 'BEGIN {
    if (mode != "baseline") {
      print "---\n# Source: bench/templates/checklist.yaml"
      print "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessChecklist\nmetadata:\n  name: bench\nspec:\n  items:"
      print "    - {name: probes, probes: {distinct: true}}"
      print "    - {name: resources, resources: {}}"
      print "    - {name: image, image: {}}"
      print "    - {name: replicas, replicas: {min: 2}}"
      print "    - {name: hpa, hpa: {minReplicas: 2}}"
      print "    - {name: pdb, podDisruptionBudget: {}}"
      print "    - {name: netpol, networkPolicy: {}}"
      print "    - {name: service, service: {}}"
      print "    - {name: secrets, secrets: {}}"
      print "    - {name: config-maps, configMaps: {}}"
      print "    - {name: pvcs, pvcsBound: {}}"
      print "    - {name: security, severity: Advisory, securityContext: {}}"
    }
    for (i = 0; i < n; i++) {
      a = "app-" i
      print "---\n# Source: bench/templates/deployment.yaml"
      print "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " a "\n  labels:\n    app: " a "\n    app.kubernetes.io/part-of: bench"
      print "spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: " a
      print "  template:\n    metadata:\n      labels:\n        app: " a "\n        app.kubernetes.io/part-of: bench"
      print "    spec:\n      serviceAccountName: " a
      print "      securityContext:\n        runAsNonRoot: true\n        seccompProfile: {type: RuntimeDefault}"
      print "      containers:\n        - name: app\n          image: ghcr.io/acme/app:1.0." i
      print "          ports:\n            - {name: http, containerPort: 8080}"
      print "          envFrom:\n            - secretRef: {name: " a "-env}"
      print "          env:\n            - name: MODE\n              valueFrom:\n                configMapKeyRef: {name: " a "-config, key: mode}"
      print "          readinessProbe: {httpGet: {path: /ready, port: http}}"
      print "          livenessProbe: {httpGet: {path: /live, port: http}}"
      print "          resources:\n            requests: {cpu: 100m, memory: 128Mi}\n            limits: {memory: 256Mi}"
      print "          securityContext:\n            allowPrivilegeEscalation: false\n            readOnlyRootFilesystem: true\n            capabilities: {drop: [ALL]}"
      print "          volumeMounts:\n            - {name: data, mountPath: /data}"
      print "      volumes:\n        - name: data\n          persistentVolumeClaim: {claimName: " a "-data}"
      print "---\n# Source: bench/templates/service.yaml"
      print "apiVersion: v1\nkind: Service\nmetadata:\n  name: " a "\nspec:\n  selector:\n    app: " a "\n  ports:\n    - {name: http, port: 80, targetPort: http}"
      print "---\n# Source: bench/templates/pdb.yaml"
      print "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: " a "\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app: " a
      print "---\n# Source: bench/templates/hpa.yaml"
      print "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: " a "\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: " a "}\n  minReplicas: 2\n  maxReplicas: 10"
      print "  metrics:\n    - type: Resource\n      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}"
      print "---\n# Source: bench/templates/secret.yaml"
      print "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " a "-env\ntype: Opaque\nstringData:\n  API_KEY: not-a-real-key"
      print "---\n# Source: bench/templates/configmap.yaml"
      print "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " a "-config\ndata:\n  mode: production"
      print "---\n# Source: bench/templates/pvc.yaml"
      print "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: " a "-data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}"
      print "---\n# Source: bench/templates/networkpolicy.yaml"
      print "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " a "\nspec:\n  podSelector:\n    matchLabels:\n      app: " a "\n  policyTypes: [Ingress]"
      print "  ingress:\n    - from:\n        - podSelector: {matchLabels: {app.kubernetes.io/part-of: bench}}"
      if (mode != "baseline") {
        print "---\n# Source: bench/templates/readiness.yaml"
        print "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata:\n  name: " a "\nspec:\n  targetRef: {name: " a "}\n  checklists: [{name: bench}]"
      }
    }
  }'
}

# Wall time (s), CPU time user+system (s) and peak RSS (KiB) of one run reading $1 on standard
# input, writing format $2.
measure() {
  local input=$1 format=$2 out=$dir/out
  if command -v /usr/bin/time >/dev/null 2>&1; then
    /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$GONOGO" check -f - "${extra[@]}" -o "$format" --now 2026-06-01T00:00:00Z <"$input" >"$out" || [ $? -eq 1 ]
    # GNU time first notes a non-zero exit status.
    tail -n 1 "$dir/time" | awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }'
  else
    # No GNU time: getrusage(RUSAGE_CHILDREN) through Python's resource module.
    python3 - "$GONOGO" "$input" "$out" "$format" "${extra[@]}" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
with open(sys.argv[2]) as i, open(sys.argv[3], "w") as o:
    rc = subprocess.call([sys.argv[1], "check", "-f", "-", *sys.argv[5:], "-o", sys.argv[4], "--now", "2026-06-01T00:00:00Z"], stdin=i, stdout=o)
if rc not in (0, 1):
    sys.exit(rc)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{time.monotonic() - start:.2f} {r.ru_utime + r.ru_stime:.2f} {r.ru_maxrss}")
PY
  fi
}

# The median of the numbers on standard input.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

extra=()
[ "$mode" != realistic ] || extra=(--checklist tests/peers/gonogo-checklist.yaml --no-baseline)
runs=${RUNS:-1}
read -r -a formats <<<"${FORMATS:-json}"

# The floor (FLOOR=1): a bare parse of the same corpus with the fastest Rust YAML parser at hand
# (benches/parse-floor), one thread; gonogo's CPU time is reported as a ratio to it.
if [ "${FLOOR:-0}" = 1 ]; then
  cargo build --release --quiet --manifest-path benches/parse-floor/Cargo.toml \
    --target-dir "${FLOOR_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/parse-floor}"
  floor_bin="${FLOOR_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/parse-floor}/release/parse-floor"
fi

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); runs per row: $runs (median wall and CPU, largest RSS)"
printf '%-7s %-9s %-7s %-7s %-7s %-7s %-8s %-8s %-6s %s\n' N documents input format wall_s cpu_s peak_MB floor_s ratio judged
for n in "${sizes[@]}"; do
  input=$dir/corpus-$n.yaml
  generate "$n" >"$input"
  docs=$(grep -c '^---$' "$input")
  size=$(du -h "$input" | cut -f1)
  floor=- ratio=-
  if [ -n "${floor_bin:-}" ]; then
    floor=$("$floor_bin" "$input" "$runs" | awk '$1 == "floor" { print $2 }')
  fi
  for format in "${formats[@]}"; do
    : >"$dir/rows"
    for _ in $(seq "$runs"); do measure "$input" "$format" >>"$dir/rows"; done
    wall=$(cut -d' ' -f1 "$dir/rows" | median)
    cpu=$(cut -d' ' -f2 "$dir/rows" | median)
    rss=$(cut -d' ' -f3 "$dir/rows" | sort -n | tail -n 1)
    [ "$floor" = - ] || ratio=$(awk -v c="$cpu" -v f="$floor" 'BEGIN { printf "%.1f", c / f }')
    judged=-
    [ "$format" != json ] || judged=$(grep -c '"readiness":' "$dir/out" || true)
    printf '%-7s %-9s %-7s %-7s %-7s %-7s %-8s %-8s %-6s %s\n' \
      "$n" "$docs" "$size" "$format" "$wall" "$cpu" "$((rss / 1024))" "$floor" "$ratio" "$judged"
  done
done
